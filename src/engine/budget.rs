//! The one work budget every resolver of pull-request input is handed: bake variables and
//! functions, workflow `${{ env.X }}` expressions, Compose interpolation and its `include:` /
//! `extends:` fan-out, and the tree walks of the git and directory adapters. A pull request
//! controls all of them, so each resolution (one bake directory, one workflow file, one Compose
//! project, one tree walk) counts what it produces against fixed limits: bytes, values (nodes,
//! list items, tree entries), steps (files loaded, includes and extends followed, expressions
//! evaluated) and depth. Past a limit the resolution stops and says which limit, and where; the
//! rest of the analysis goes on. Walks over what a pull request nests are iterative, or recurse
//! only as deep as this budget's depth (or a parser's own nesting limit) allows.

use std::fmt;

/// What one resolution may produce, and how its measures are named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes produced (strings built, values copied; for a tree walk, bytes of path names).
    pub bytes: usize,
    /// Values produced (strings, list items, map entries; for a tree walk, entries).
    pub values: usize,
    /// Steps taken (files loaded, includes and extends followed, expressions evaluated; for a
    /// tree walk, trees read).
    pub steps: usize,
    /// Deepest nesting followed (includes, extends, inherits; for a tree walk, directories).
    pub depth: usize,
    /// The noun of `values` in messages ("values", "entries").
    pub values_noun: &'static str,
    /// The noun of `bytes` in messages ("of text produced", "of path names").
    pub bytes_noun: &'static str,
    /// The noun of `steps` in messages.
    pub steps_noun: &'static str,
    /// The noun of `depth` in messages ("levels", "directories").
    pub depth_noun: &'static str,
}

/// The budget of one resolution of declarations a pull request controls: one bake directory,
/// one workflow file, one Compose project (with its includes, extends and `.env` files).
pub const RESOLVE: Limits = Limits {
    bytes: 16 << 20,
    values: 1_000_000,
    steps: 100_000,
    depth: 16,
    values_noun: "values produced",
    bytes_noun: "of text produced",
    steps_noun: "evaluation steps (files loaded, includes and extends followed, expressions evaluated, 4 KiB of text searched)",
    depth_noun: "levels",
};

/// The budget of one walk of a tree (a git revision or a directory): a real repository of
/// 100,000 files is far inside it.
pub const TREE: Limits = Limits {
    bytes: 64 << 20,
    values: 500_000,
    steps: 500_000,
    depth: 256,
    values_noun: "entries",
    bytes_noun: "of path names",
    steps_noun: "directories read",
    depth_noun: "directories",
};

/// Which limit a resolution went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Bytes,
    Values,
    Steps,
    Depth,
}

/// A limit went past: which one, with the limits it belongs to (for the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub measure: Measure,
    pub limits: &'static Limits,
}

impl Exceeded {
    /// The limit's value.
    pub fn limit(&self) -> usize {
        match self.measure {
            Measure::Bytes => self.limits.bytes,
            Measure::Values => self.limits.values,
            Measure::Steps => self.limits.steps,
            Measure::Depth => self.limits.depth,
        }
    }
}

/// `16777216` → `16 MiB`, `1500` → `1,500 bytes`.
pub fn bytes_text(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{} bytes", thousands(n))
    }
}

/// `1000000` → `1,000,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.limits;
        match self.measure {
            Measure::Bytes => write!(f, "more than {} {}", bytes_text(l.bytes), l.bytes_noun),
            Measure::Values => write!(f, "more than {} {}", thousands(l.values), l.values_noun),
            Measure::Steps => write!(f, "more than {} {}", thousands(l.steps), l.steps_noun),
            Measure::Depth => write!(f, "nested deeper than {} {}", l.depth, l.depth_noun),
        }
    }
}

impl std::error::Error for Exceeded {}

/// What one resolution has used of its limits. Once past a limit it stays exceeded: every later
/// charge fails with the first limit crossed.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: &'static Limits,
    bytes: usize,
    values: usize,
    steps: usize,
    exceeded: Option<Exceeded>,
}

impl Budget {
    pub fn new(limits: &'static Limits) -> Budget {
        Budget {
            limits,
            bytes: 0,
            values: 0,
            steps: 0,
            exceeded: None,
        }
    }

    pub fn limits(&self) -> &'static Limits {
        self.limits
    }

    /// The first limit crossed, if any.
    pub fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    fn fail(&mut self, measure: Measure) -> Exceeded {
        *self.exceeded.get_or_insert(Exceeded {
            measure,
            limits: self.limits,
        })
    }

    fn check(&mut self) -> Result<(), Exceeded> {
        match self.exceeded {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Count `n` bytes produced.
    pub fn bytes(&mut self, n: usize) -> Result<(), Exceeded> {
        self.check()?;
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.bytes {
            return Err(self.fail(Measure::Bytes));
        }
        Ok(())
    }

    /// Count `n` values produced.
    pub fn values(&mut self, n: usize) -> Result<(), Exceeded> {
        self.check()?;
        self.values = self.values.saturating_add(n);
        if self.values > self.limits.values {
            return Err(self.fail(Measure::Values));
        }
        Ok(())
    }

    /// Count one step.
    pub fn step(&mut self) -> Result<(), Exceeded> {
        self.steps(1)
    }

    /// Count `n` steps.
    pub fn steps(&mut self, n: usize) -> Result<(), Exceeded> {
        self.check()?;
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.steps {
            return Err(self.fail(Measure::Steps));
        }
        Ok(())
    }

    /// Count a size (bytes and values) produced.
    pub fn size(&mut self, s: Size) -> Result<(), Exceeded> {
        self.bytes(s.bytes)?;
        self.values(s.values)
    }

    /// Whether `s` more would still fit (nothing is counted).
    pub fn fits(&self, s: Size) -> Result<(), Exceeded> {
        if let Some(e) = self.exceeded {
            return Err(e);
        }
        let over = |used: usize, more: usize, limit: usize| used.saturating_add(more) > limit;
        let measure = if over(self.bytes, s.bytes, self.limits.bytes) {
            Measure::Bytes
        } else if over(self.values, s.values, self.limits.values) {
            Measure::Values
        } else {
            return Ok(());
        };
        Err(Exceeded {
            measure,
            limits: self.limits,
        })
    }

    /// Check a nesting depth (1 = the first level below the start).
    pub fn depth(&mut self, depth: usize) -> Result<(), Exceeded> {
        self.check()?;
        if depth > self.limits.depth {
            return Err(self.fail(Measure::Depth));
        }
        Ok(())
    }
}

/// An amount of bytes and values (a value's size, or a bound on what an evaluation produces).
/// Arithmetic saturates: a bound past `usize::MAX` is simply over every limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size {
    pub bytes: usize,
    pub values: usize,
}

impl Size {
    pub const ONE: Size = Size {
        bytes: 0,
        values: 1,
    };

    /// One string value of `n` bytes.
    pub fn text(n: usize) -> Size {
        Size {
            bytes: n,
            values: 1,
        }
    }

    pub fn plus(self, o: Size) -> Size {
        Size {
            bytes: self.bytes.saturating_add(o.bytes),
            values: self.values.saturating_add(o.values),
        }
    }

    pub fn times(self, n: usize) -> Size {
        Size {
            bytes: self.bytes.saturating_mul(n),
            values: self.values.saturating_mul(n),
        }
    }

    pub fn max(self, o: Size) -> Size {
        Size {
            bytes: self.bytes.max(o.bytes),
            values: self.values.max(o.values),
        }
    }
}

/// The size of a JSON value (strings and keys in bytes, every value and key one value), walked
/// without recursion.
pub fn json_size(v: &serde_json::Value) -> Size {
    let mut total = Size::default();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total.values = total.values.saturating_add(1);
        let bytes = match v {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Number(_) => 8,
            serde_json::Value::Array(a) => {
                stack.extend(a.iter());
                0
            }
            serde_json::Value::Object(m) => {
                stack.extend(m.values());
                m.keys().map(String::len).sum()
            }
            serde_json::Value::Bool(_) | serde_json::Value::Null => 0,
        };
        total.bytes = total.bytes.saturating_add(bytes);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        bytes: 10,
        values: 3,
        steps: 2,
        depth: 1,
        ..RESOLVE
    };
    const TWO_STEPS: Limits = Limits {
        steps: 2,
        ..RESOLVE
    };

    #[test]
    fn a_budget_stays_exceeded_and_names_the_first_limit() {
        let mut b = Budget::new(&SMALL);
        assert!(b.bytes(10).is_ok());
        assert!(
            b.fits(Size::text(1)).is_err(),
            "a fit is checked, not counted"
        );
        let e = b.bytes(1).unwrap_err();
        assert_eq!(e.measure, Measure::Bytes);
        assert_eq!(e.limit(), 10);
        assert_eq!(
            b.step().unwrap_err().measure,
            Measure::Bytes,
            "stays exceeded"
        );
        let mut b = Budget::new(&TWO_STEPS);
        assert!(b.step().is_ok() && b.step().is_ok());
        let e = b.step().unwrap_err();
        assert_eq!(
            e.to_string(),
            "more than 2 evaluation steps (files loaded, includes and extends followed, expressions evaluated, 4 KiB of text searched)"
        );
        let mut b = Budget::new(&TREE);
        assert_eq!(
            b.depth(257).unwrap_err().to_string(),
            "nested deeper than 256 directories"
        );
        assert_eq!(
            Budget::new(&RESOLVE)
                .bytes(usize::MAX)
                .unwrap_err()
                .to_string(),
            "more than 16 MiB of text produced"
        );
        assert_eq!(
            Budget::new(&TREE).values(500_001).unwrap_err().to_string(),
            "more than 500,000 entries"
        );
    }

    #[test]
    fn sizes_saturate() {
        let s = Size::text(usize::MAX / 2).times(4).plus(Size::ONE);
        assert_eq!(s.bytes, usize::MAX);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(bytes_text(1500), "1,500 bytes");
        assert_eq!(bytes_text(64 << 20), "64 MiB");
        let v = serde_json::json!({"a": ["xy", 1, null]});
        assert_eq!(
            json_size(&v),
            Size {
                bytes: 11,
                values: 5
            }
        );
    }
}
