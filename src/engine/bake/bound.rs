//! An upper bound on what evaluating a bake (HCL) expression produces, computed before
//! `hcl-rs` evaluates it: `hcl-rs` has no budget of its own, so a file of 1,831 bytes doubling a
//! variable 40 times would ask for a terabyte. The bound follows the expression: literals are
//! their size, a variable is the size of its value (known: the values are measured as they are
//! declared), a template the sum of its parts, a `for` its body times the elements of its
//! collection, each of bake's functions what it can produce from its arguments (`replace` the
//! most: every character replaced by the replacement). It is conservative, never smaller than
//! the truth; real bake files produce a few KiB and stay far inside the budget.
//!
//! `work` counts everything the evaluation allocates on the way (a variable's value is copied
//! where it is used, so `length(A)` written 1,000 times costs 1,000 copies of `A`). The walk
//! recurses over the expression tree, whose depth the HCL parser bounds (64 nested levels, 128
//! chained operators); past `MAX_DEPTH` the bound is unlimited, which refuses the expression.

use std::collections::BTreeMap;

use hcl::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::template::{Directive, Element, Template};

use crate::engine::budget::Size;

/// Deeper expressions are not bounded (the parser accepts far less).
const MAX_DEPTH: usize = 512;

/// A scalar's size as a bound (numbers, booleans, null).
const SCALAR: Size = Size {
    bytes: 24,
    values: 1,
};

const UNBOUNDED: Bound = Bound {
    result: Size {
        bytes: usize::MAX,
        values: usize::MAX,
    },
    work: Size {
        bytes: usize::MAX,
        values: usize::MAX,
    },
};

/// What evaluating an expression produces at most: its value (`result`) and everything
/// allocated on the way, the value included (`work`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bound {
    pub result: Size,
    pub work: Size,
}

impl Bound {
    fn leaf(s: Size) -> Bound {
        Bound { result: s, work: s }
    }
}

/// The sizes of the variables in scope: the declared ones, and the iterators of the `for`
/// expressions being walked (bound to their collection's size).
pub struct Scope<'a> {
    pub vars: &'a BTreeMap<String, Size>,
    locals: Vec<(String, Size)>,
}

impl<'a> Scope<'a> {
    pub fn new(vars: &'a BTreeMap<String, Size>) -> Scope<'a> {
        Scope {
            vars,
            locals: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> Size {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .or_else(|| self.vars.get(name).copied())
            .unwrap_or_default()
    }
}

/// The length of a value's text where a string is wanted (a template's interpolation, a
/// function's string argument): a string as it is, a collection as HCL writes it (every
/// character possibly escaped, punctuation around every value).
fn text_of(s: Size) -> usize {
    if s.values <= 1 {
        s.bytes.saturating_add(SCALAR.bytes)
    } else {
        s.bytes
            .saturating_mul(6)
            .saturating_add(s.values.saturating_mul(16))
    }
}

/// The bound of `e` with the variables of `scope`.
pub fn bound(e: &Expression, scope: &mut Scope<'_>) -> Bound {
    walk(e, scope, 0)
}

fn sum(parts: &[Bound]) -> (Size, Size) {
    parts
        .iter()
        .fold((Size::default(), Size::default()), |(r, w), b| {
            (r.plus(b.result), w.plus(b.work))
        })
}

fn walk(e: &Expression, scope: &mut Scope<'_>, depth: usize) -> Bound {
    if depth > MAX_DEPTH {
        return UNBOUNDED;
    }
    let d = depth + 1;
    match e {
        Expression::Null | Expression::Bool(_) | Expression::Number(_) => Bound::leaf(SCALAR),
        Expression::String(s) => Bound::leaf(Size::text(s.len())),
        Expression::Array(items) => {
            let parts: Vec<Bound> = items.iter().map(|x| walk(x, scope, d)).collect();
            let (r, w) = sum(&parts);
            let result = r.plus(Size::ONE);
            Bound {
                result,
                work: w.plus(result),
            }
        }
        Expression::Object(entries) => object(entries, scope, d),
        Expression::TemplateExpr(t) => match Template::from_expr(t) {
            Ok(t) => template(&t, scope, d),
            // it does not evaluate either
            Err(_) => Bound::default(),
        },
        Expression::Variable(v) => Bound::leaf(scope.get(v.as_str())),
        Expression::Traversal(t) => traversal(t, scope, d),
        Expression::FuncCall(f) => {
            let args: Vec<Bound> = f.args.iter().map(|x| walk(x, scope, d)).collect();
            func(f.name.name.as_str(), f.expand_final, &args)
        }
        Expression::Parenthesis(x) => walk(x, scope, d),
        Expression::Conditional(c) => {
            let (cond, t, f) = (
                walk(&c.cond_expr, scope, d),
                walk(&c.true_expr, scope, d),
                walk(&c.false_expr, scope, d),
            );
            Bound {
                result: t.result.max(f.result),
                work: cond.work.plus(t.work).plus(f.work),
            }
        }
        Expression::Operation(op) => {
            let work = match op.as_ref() {
                hcl::expr::Operation::Unary(u) => walk(&u.expr, scope, d).work,
                hcl::expr::Operation::Binary(b) => walk(&b.lhs_expr, scope, d)
                    .work
                    .plus(walk(&b.rhs_expr, scope, d).work),
            };
            Bound {
                result: SCALAR,
                work: work.plus(SCALAR),
            }
        }
        Expression::ForExpr(f) => for_expr(f, scope, d),
        _ => UNBOUNDED,
    }
}

/// An object's bound: its keys and values (in order), and the object itself.
fn object(
    entries: &hcl::expr::Object<ObjectKey, Expression>,
    scope: &mut Scope<'_>,
    d: usize,
) -> Bound {
    let mut parts = Vec::with_capacity(entries.len() * 2);
    for (k, v) in entries.iter() {
        parts.push(match k {
            ObjectKey::Identifier(id) => Bound::leaf(Size::text(id.as_str().len())),
            ObjectKey::Expression(x) => walk(x, scope, d),
            _ => UNBOUNDED,
        });
        parts.push(walk(v, scope, d));
    }
    let (r, w) = sum(&parts);
    let result = r.plus(Size::ONE);
    Bound {
        result,
        work: w.plus(result),
    }
}

/// A traversal's bound: its base, its index expressions, and the part (or splat) taken.
fn traversal(t: &hcl::expr::Traversal, scope: &mut Scope<'_>, d: usize) -> Bound {
    let base = walk(&t.expr, scope, d);
    let mut work = base.work.plus(base.result);
    for op in &t.operators {
        if let TraversalOperator::Index(x) = op {
            work = work.plus(walk(x, scope, d).work);
        }
    }
    // a part of the value, or (splat) a list of its parts
    let result = base.result.plus(Size::ONE).plus(Size {
        bytes: 0,
        values: base.result.values,
    });
    Bound {
        result,
        work: work.plus(result),
    }
}

/// A `for` expression's bound: its body (with the loop variables in scope) times the elements
/// of its collection.
fn for_expr(f: &hcl::expr::ForExpr, scope: &mut Scope<'_>, d: usize) -> Bound {
    let coll = walk(&f.collection_expr, scope, d);
    let n = coll.result.values;
    let mark = bind_loop(scope, f.key_var.as_ref(), &f.value_var, coll.result);
    let key = f.key_expr.as_ref().map(|x| walk(x, scope, d));
    let value = walk(&f.value_expr, scope, d);
    let cond = f.cond_expr.as_ref().map(|x| walk(x, scope, d));
    scope.locals.truncate(mark);
    let per = value
        .result
        .plus(key.map(|k| k.result).unwrap_or_default())
        .plus(Size::ONE);
    let per_work = value
        .work
        .plus(key.map(|k| k.work).unwrap_or_default())
        .plus(cond.map(|c| c.work).unwrap_or_default());
    let result = per.times(n).plus(Size::ONE);
    Bound {
        result,
        work: coll.work.plus(per_work.times(n)).plus(result),
    }
}

/// A `for`'s loop variables in scope (the key a text, the value an element of the collection
/// `coll`); the mark to truncate the scope back to after the body.
fn bind_loop(
    scope: &mut Scope<'_>,
    key: Option<&hcl::Identifier>,
    value: &hcl::Identifier,
    coll: Size,
) -> usize {
    let mark = scope.locals.len();
    if let Some(k) = key {
        scope
            .locals
            .push((k.as_str().to_string(), Size::text(coll.bytes)));
    }
    scope.locals.push((value.as_str().to_string(), coll));
    mark
}

fn template(t: &Template, scope: &mut Scope<'_>, depth: usize) -> Bound {
    if depth > MAX_DEPTH {
        return UNBOUNDED;
    }
    let d = depth + 1;
    let mut bytes = 0usize;
    let mut work = Size::default();
    for el in t.elements() {
        match el {
            Element::Literal(l) => bytes = bytes.saturating_add(l.len()),
            Element::Interpolation(i) => {
                let b = walk(&i.expr, scope, d);
                bytes = bytes.saturating_add(text_of(b.result));
                work = work.plus(b.work);
            }
            Element::Directive(dir) => match dir.as_ref() {
                Directive::If(i) => {
                    let c = walk(&i.cond_expr, scope, d);
                    let t = template(&i.true_template, scope, d);
                    let f = i
                        .false_template
                        .as_ref()
                        .map(|f| template(f, scope, d))
                        .unwrap_or_default();
                    bytes = bytes.saturating_add(t.result.bytes.max(f.result.bytes));
                    work = work.plus(c.work).plus(t.work).plus(f.work);
                }
                Directive::For(f) => {
                    let coll = walk(&f.collection_expr, scope, d);
                    let n = coll.result.values;
                    let mark = bind_loop(scope, f.key_var.as_ref(), &f.value_var, coll.result);
                    let body = template(&f.template, scope, d);
                    scope.locals.truncate(mark);
                    bytes = bytes.saturating_add(body.result.bytes.saturating_mul(n));
                    work = work.plus(coll.work).plus(body.work.times(n));
                }
            },
        }
    }
    let result = Size::text(bytes);
    Bound {
        result,
        work: work.plus(result),
    }
}

/// What one of bake's functions (`bake::declare_functions`) produces from arguments bounded by
/// `args`; an unknown function fails, so only its arguments count.
fn func(name: &str, expand_final: bool, args: &[Bound]) -> Bound {
    let (_, arg_work) = sum(args);
    let r = |i: usize| args.get(i).map(|a| a.result).unwrap_or_default();
    let t = |i: usize| text_of(r(i));
    // `f(a, list...)` spreads the list into arguments: each is a part of it
    let all_text = args
        .iter()
        .map(|a| text_of(a.result))
        .fold(0usize, usize::saturating_add);
    let spread = expand_final && args.last().is_some_and(|a| a.result.values > 1);
    let add = |a: usize, b: usize| a.saturating_add(b);
    let result = match name {
        "equal" | "notequal" | "and" | "or" | "not" | "contains" => SCALAR,
        "lower" | "upper" => Size::text(t(0).saturating_mul(3)),
        "trimspace" | "trimprefix" | "trimsuffix" => Size::text(t(0)),
        "md5" => Size::text(32),
        // every character boundary may take the replacement
        "replace" => Size::text(add(t(0), add(t(0), 1).saturating_mul(t(2)))),
        "coalesce" => args
            .iter()
            .fold(Size::default(), |m, a| m.max(a.result))
            .plus(SCALAR),
        "split" => Size {
            bytes: t(1),
            values: add(t(1), 2),
        },
        "format" => Size::text(all_text),
        "concat" => sum(args).0.plus(Size::ONE),
        "join" => Size::text(add(
            text_of(r(1)),
            r(1).values.saturating_mul(add(t(0), SCALAR.bytes)),
        )),
        _ => Size::default(),
    };
    let result = if spread {
        result.max(sum(args).0.times(4))
    } else {
        result
    };
    Bound {
        result,
        // the arguments, their text where a string is wanted, the result
        work: arg_work.plus(Size::text(all_text)).plus(result),
    }
}

/// The size of a value (strings and keys in bytes, every value one value), walked without
/// recursion.
pub fn value_size(v: &hcl::Value) -> Size {
    let mut total = Size::default();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total.values = total.values.saturating_add(1);
        let bytes = match v {
            hcl::Value::String(s) => s.len(),
            hcl::Value::Number(_) => 8,
            hcl::Value::Array(a) => {
                stack.extend(a.iter());
                0
            }
            hcl::Value::Object(m) => {
                stack.extend(m.values());
                m.keys().map(String::len).sum()
            }
            hcl::Value::Bool(_) | hcl::Value::Null => 0,
        };
        total.bytes = total.bytes.saturating_add(bytes);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Expression {
        let body: hcl::Body = hcl::parse(&format!("x = {s}\n")).unwrap();
        body.attributes().next().unwrap().expr.clone()
    }

    fn b(s: &str, vars: &[(&str, usize)]) -> Bound {
        let vars: BTreeMap<String, Size> = vars
            .iter()
            .map(|(k, n)| (k.to_string(), Size::text(*n)))
            .collect();
        bound(&expr(s), &mut Scope::new(&vars))
    }

    #[test]
    fn bounds_are_never_below_what_hcl_produces() {
        // each expression evaluated for real with A = "abcd" (4 bytes)
        let cases = [
            "\"${A}${A}\"",
            "replace(A, \"\", \"xyz\")",
            "[for c in split(\"\", A) : \"${c}${A}\"]",
            "join(\"--\", split(\"b\", A))",
            "upper(A)",
            "format(\"%s-%s\", A, A)",
            "concat([A], [A, A])",
            "{ (A) = A, k = [A] }",
            "\"%{ for c in split(\"\", A) }${c}${A}%{ endfor }\"",
            "length(A)",
            "A == \"x\" ? A : \"${A}${A}${A}\"",
            "coalesce(\"\", A)",
        ];
        let mut ctx = hcl::eval::Context::new();
        crate::engine::bake::declare_functions(&mut ctx);
        ctx.declare_var("A", hcl::Value::String("abcd".into()));
        for c in cases {
            let bd = b(c, &[("A", 4)]);
            if let Ok(v) = hcl::eval::Evaluate::evaluate(&expr(c), &ctx) {
                let real = value_size(&v);
                assert!(
                    bd.result.bytes >= real.bytes && bd.result.values >= real.values,
                    "{c}: bound {bd:?} below {real:?} ({v:?})"
                );
                assert!(bd.work.bytes >= bd.result.bytes, "{c}");
            }
        }
    }

    #[test]
    fn doubling_and_loops_grow_as_they_would() {
        assert_eq!(
            b("\"${A}${A}\"", &[("A", 1 << 30)]).result.bytes,
            (1 << 31) + 48
        );
        let big = b("[for x in split(\"\", A) : \"${A}\"]", &[("A", 1 << 20)]);
        assert!(big.result.bytes > 1 << 40, "{big:?}");
        // a reference is a copy: 1,000 uses of a 1 MiB value are 1,000 MiB of work
        let uses = vec!["A"; 1000].join(", ");
        let many = b(&format!("[{uses}]"), &[("A", 1 << 20)]);
        assert!(many.work.bytes >= 1000 << 20, "{many:?}");
        assert_eq!(value_size(&hcl::Value::from("abc")), Size::text(3));
    }
}
