//! Why a head step misses when no base record has its op under the same parent: the typed
//! `Cause` of the first miss of a chain, found by comparing the step with its base counterpart
//! (the FROM of the same stage, or the base step that followed the same parent record). The
//! content comparison (`content`) explains misses of steps whose op did match.

use super::sim::{self, EnvSrc, EnvVar, Op, VId, Vertex};
use super::{SideSim, step_line};
use crate::engine::dockerfile::{self, Body, Dockerfile};
use crate::engine::report::{Cause, CauseKind};

/// Why no base record has `v`'s op under the base parent record `bparent`.
pub fn op_diff(head: &SideSim, base: &SideSim, v: &Vertex, bparent: Option<VId>) -> Cause {
    let line = step_line(head, v);
    let Some(bv) = counterpart(head, base, v, bparent) else {
        return Cause::InstructionAdded {
            line,
            base_line: None,
        };
    };
    let bline = step_line(base, bv);
    if bv.op.kind_name() != v.op.kind_name() {
        // Was the base step removed (its successor is what this step is)?
        let removed = base
            .sim
            .vertices
            .iter()
            .any(|x| x.parent == Some(base_index_of(base, bv)) && x.op == v.op);
        return if removed {
            Cause::InstructionRemoved {
                line,
                base_line: bline,
                before: base.df.instructions[bv.inst].display(120),
            }
        } else {
            Cause::InstructionAdded {
                line,
                base_line: Some(bline),
            }
        };
    }
    let text_changed = || Cause::InstructionChanged {
        line,
        base_line: Some(bline),
        before: Some(base.df.instructions[bv.inst].display(120)),
        after: Some(head.df.instructions[v.inst].display(120)),
    };
    match (&v.op, &bv.op) {
        (Op::Image { .. }, Op::Image { .. }) => {
            image_diff(head, base, v, bv, (line, bline)).unwrap_or_else(text_changed)
        }
        (Op::Exec { .. }, Op::Exec { .. }) => exec_diff(v, bv, line).unwrap_or_else(text_changed),
        (Op::Mkdir { .. }, Op::Mkdir { .. }) => {
            mkdir_diff(v, bv, line).unwrap_or_else(text_changed)
        }
        (Op::Copy { .. }, Op::Copy { .. }) => copy_diff(v, bv, line).unwrap_or_else(text_changed),
        _ => text_changed(),
    }
}

/// The base step `v` is compared with: for a FROM the stage with the same name, else the same
/// index; otherwise the base step of the same kind (or the first) after the same parent record.
fn counterpart<'b>(
    head: &SideSim,
    base: &'b SideSim,
    v: &Vertex,
    bparent: Option<VId>,
) -> Option<&'b Vertex> {
    if bparent.is_none() {
        let hs = &head.sim.stages[v.stage].info;
        return base
            .sim
            .stages
            .iter()
            .find(|s| s.info.name.is_some() && s.info.name == hs.name)
            .or_else(|| base.sim.stages.get(hs.index))
            .and_then(|s| s.image_vertex.or(s.vertices.first().copied()))
            .map(|i| &base.sim.vertices[i]);
    }
    let children: Vec<&Vertex> = base
        .sim
        .vertices
        .iter()
        .filter(|bv| bv.parent == bparent && base.sim.stages[bv.stage].reachable)
        .collect();
    children
        .iter()
        .find(|bv| bv.op.kind_name() == v.op.kind_name())
        .copied()
        .or(children.first().copied())
}

/// A FROM whose image differs: a global ARG it expands, its reference or its platform.
fn image_diff(
    head: &SideSim,
    base: &SideSim,
    v: &Vertex,
    bv: &Vertex,
    (line, base_line): (u32, u32),
) -> Option<Cause> {
    let (
        Op::Image {
            reference: hr,
            platform: hp,
        },
        Op::Image {
            reference: br,
            platform: bp,
        },
    ) = (&v.op, &bv.op)
    else {
        return None;
    };
    if v.detail.from_raw == bv.detail.from_raw
        && head.df.instructions[v.inst].flag_value("platform")
            == base.df.instructions[bv.inst].flag_value("platform")
    {
        // Same text: a global ARG or build arg changed what it expands to.
        if let Some(c) = global_arg_cause(head, base, v, hr, br) {
            return Some(c);
        }
    }
    Some(if hr != br {
        Cause::BaseImage {
            line,
            base_line,
            before: br.clone(),
            after: hr.clone(),
        }
    } else {
        Cause::FromPlatform {
            line,
            base_line,
            before: bp.clone(),
            after: hp.clone(),
        }
    })
}

/// A RUN whose key differs: its shell, environment, working directory or user (None: the
/// command text itself).
fn exec_diff(v: &Vertex, bv: &Vertex, line: u32) -> Option<Cause> {
    let (
        Op::Exec {
            argv: ha,
            env: he,
            cwd: hc,
            user: hu,
            ..
        },
        Op::Exec {
            argv: ba,
            env: be,
            cwd: bc,
            user: bu,
            ..
        },
    ) = (&v.op, &bv.op)
    else {
        return None;
    };
    if ha != ba {
        return (v.detail.text == bv.detail.text && v.detail.shell != bv.detail.shell).then(|| {
            Cause::Shell {
                line: v.detail.shell_line.unwrap_or(line),
                base_line: bv.detail.shell_line,
                before: bv.detail.shell.join(" "),
                after: v.detail.shell.join(" "),
            }
        });
    }
    if he != be {
        return Some(env_cause(&v.detail.env, &bv.detail.env, line));
    }
    if hc != bc {
        return Some(Cause::Workdir {
            line: v.detail.cwd_line.unwrap_or(line),
            base_line: bv.detail.cwd_line,
            before: sim::display_value(bc),
            after: sim::display_value(hc),
        });
    }
    (hu != bu).then(|| user_cause(v, bv, line, bu, hu))
}

fn user_cause(v: &Vertex, bv: &Vertex, line: u32, before: &str, after: &str) -> Cause {
    Cause::User {
        line: v.detail.user_line.unwrap_or(line),
        base_line: bv.detail.user_line,
        before: before.to_string(),
        after: after.to_string(),
    }
}

/// A WORKDIR whose key differs: its user, a variable in its path, or the directory it is
/// relative to (None: its text).
fn mkdir_diff(v: &Vertex, bv: &Vertex, line: u32) -> Option<Cause> {
    let (Op::Mkdir { path: hp, user: hu }, Op::Mkdir { path: bp, user: bu }) = (&v.op, &bv.op)
    else {
        return None;
    };
    if hp == bp && hu != bu {
        return Some(user_cause(v, bv, line, bu, hu));
    }
    if v.detail.raw != bv.detail.raw {
        return None;
    }
    // same text, different base: a relative WORKDIR after another WORKDIR changed
    Some(
        var_cause(&v.detail.raw, &v.detail.env, &bv.detail.env, line).unwrap_or_else(|| {
            Cause::Workdir {
                line,
                base_line: None,
                before: sim::display_value(bp),
                after: sim::display_value(hp),
            }
        }),
    )
}

/// A COPY with the same text: a variable in it, or the working directory its destination is
/// relative to (None: its text).
fn copy_diff(v: &Vertex, bv: &Vertex, line: u32) -> Option<Cause> {
    if v.detail.raw != bv.detail.raw {
        return None;
    }
    if let Some(c) = var_cause(&v.detail.raw, &v.detail.env, &bv.detail.env, line) {
        return Some(c);
    }
    match (&v.op, &bv.op) {
        (Op::Copy { dest: hd, .. }, Op::Copy { dest: bd, .. }) if hd != bd => {
            Some(Cause::Workdir {
                line: v.detail.cwd_line.unwrap_or(line),
                base_line: bv.detail.cwd_line,
                before: sim::display_value(bd),
                after: sim::display_value(hd),
            })
        }
        _ => None,
    }
}

fn base_index_of(base: &SideSim, v: &Vertex) -> VId {
    base.sim
        .vertices
        .iter()
        .position(|x| std::ptr::eq(x, v))
        .unwrap_or(usize::MAX)
}

fn cause_kind_of(src: &EnvSrc) -> CauseKind {
    match src {
        EnvSrc::Env { .. } => CauseKind::Env,
        EnvSrc::Arg { .. } | EnvSrc::GlobalArg { .. } | EnvSrc::Platform { .. } => CauseKind::Arg,
        EnvSrc::BuildArg { .. } => CauseKind::BuildArg,
        EnvSrc::Image => CauseKind::BaseImage,
    }
}

fn src_line(src: &EnvSrc) -> Option<u32> {
    match src {
        EnvSrc::Env { line }
        | EnvSrc::Arg { line }
        | EnvSrc::BuildArg { line }
        | EnvSrc::GlobalArg { line }
        | EnvSrc::Platform { line } => Some(*line),
        EnvSrc::Image => None,
    }
}

/// A variable whose value differs, as the cause of its kind (`Env`, `Arg`, `BuildArg`, or a
/// variable of the base image): gone when the head has no value and the base had one at a line.
fn variable_cause(
    kind: CauseKind,
    line: u32,
    name: String,
    base_line: Option<u32>,
    before: Option<String>,
    after: Option<String>,
) -> Cause {
    match (kind, after, base_line, before) {
        (CauseKind::Arg, None, Some(base_line), Some(before)) => Cause::ArgRemoved {
            line,
            name,
            base_line,
            before,
        },
        (CauseKind::Env, None, Some(base_line), Some(before)) => Cause::EnvRemoved {
            line,
            name,
            base_line,
            before,
        },
        (CauseKind::Arg, after, base_line, before) => Cause::Arg {
            line,
            name,
            base_line,
            before,
            after,
        },
        (CauseKind::Env, after, base_line, before) => Cause::Env {
            line,
            name,
            base_line,
            before,
            after,
        },
        (CauseKind::BuildArg, after, base_line, before) => Cause::BuildArg {
            line,
            name,
            base_line,
            before,
            after,
        },
        (_, after, base_line, before) => Cause::ImageVariable {
            line,
            name,
            base_line,
            before,
            after,
        },
    }
}

/// The first environment difference between head and base, as a cause.
fn env_cause(head: &[EnvVar], base: &[EnvVar], line: u32) -> Cause {
    for hv in head.iter().filter(|v| v.src != EnvSrc::Image) {
        let bvar = base
            .iter()
            .find(|b| b.name == hv.name && b.src != EnvSrc::Image);
        if bvar.map(|b| &b.value) != Some(&hv.value) {
            let mut kind = cause_kind_of(&hv.src);
            if bvar.is_some_and(|b| matches!(b.src, EnvSrc::BuildArg { .. })) {
                kind = CauseKind::BuildArg;
            }
            return variable_cause(
                kind,
                src_line(&hv.src).unwrap_or(line),
                hv.name.clone(),
                bvar.and_then(|b| src_line(&b.src)),
                bvar.map(|b| sim::display_value(&b.value)),
                Some(sim::display_value(&hv.value)),
            );
        }
    }
    for bv in base.iter().filter(|v| v.src != EnvSrc::Image) {
        if !head.iter().any(|h| h.name == bv.name) {
            let mut kind = cause_kind_of(&bv.src);
            if kind == CauseKind::BaseImage {
                kind = CauseKind::Env;
            }
            return variable_cause(
                kind,
                line,
                bv.name.clone(),
                src_line(&bv.src),
                Some(sim::display_value(&bv.value)),
                None,
            );
        }
    }
    Cause::EnvOrder { line }
}

/// The first variable referenced in `raw` whose value differs between head and base.
fn var_cause(raw: &str, head: &[EnvVar], base: &[EnvVar], line: u32) -> Option<Cause> {
    for n in referenced_vars(raw) {
        let h = head.iter().rev().find(|v| v.name == n);
        let b = base.iter().rev().find(|v| v.name == n);
        if h.map(|v| &v.value) != b.map(|v| &v.value) {
            let src = h
                .map(|v| &v.src)
                .or(b.map(|v| &v.src))
                .cloned()
                .unwrap_or(EnvSrc::Image);
            let mut kind = cause_kind_of(&src);
            if b.is_some_and(|b| matches!(b.src, EnvSrc::BuildArg { .. })) {
                kind = CauseKind::BuildArg;
            }
            return Some(variable_cause(
                kind,
                h.and_then(|v| src_line(&v.src)).unwrap_or(line),
                n,
                b.and_then(|v| src_line(&v.src)),
                b.map(|v| sim::display_value(&v.value)),
                h.map(|v| sim::display_value(&v.value)),
            ));
        }
    }
    None
}

/// A FROM with the same text whose image differs: the global ARG (or build arg) it expands.
fn global_arg_cause(
    head: &SideSim,
    base: &SideSim,
    v: &Vertex,
    head_ref: &str,
    base_ref: &str,
) -> Option<Cause> {
    let raw = v.detail.from_raw.clone().unwrap_or_default();
    let names = referenced_vars(&raw);
    let (hg, _) = dockerfile::stages::split(&head.df);
    let (bg, _) = dockerfile::stages::split(&base.df);
    let find = |df: &Dockerfile, globals: &[usize], n: &str| -> Option<(u32, Option<String>)> {
        globals
            .iter()
            .rev()
            .find_map(|&i| match &df.instructions[i].body {
                Body::Arg(a) => a
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, d)| (df.instructions[i].line, d.clone())),
                _ => None,
            })
    };
    let name = names.first()?.clone();
    let h = find(&head.df, &hg, &name);
    let b = find(&base.df, &bg, &name);
    let line = h.as_ref().map_or_else(|| step_line(head, v), |x| x.0);
    let (base_line, before, after) = (
        b.as_ref().map(|x| x.0),
        Some(base_ref.to_string()),
        Some(head_ref.to_string()),
    );
    Some(if h.as_ref().map(|x| &x.1) == b.as_ref().map(|x| &x.1) {
        Cause::BuildArg {
            line,
            name,
            base_line,
            before,
            after,
        }
    } else {
        Cause::Arg {
            line,
            name,
            base_line,
            before,
            after,
        }
    })
}

/// `$NAME` / `${NAME…}` references in text.
pub fn referenced_vars(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !raw.contains('$') {
        return out;
    }
    let mut chars = raw.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            continue;
        }
        if chars.peek().is_some_and(|(_, c)| *c == '{') {
            chars.next();
        }
        let start = chars.peek().map_or(raw.len(), |(i, _)| *i);
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let n = &raw[start..end];
        if !n.is_empty() && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::referenced_vars;

    /// The walk over a vector of characters that `referenced_vars` replaced.
    fn by_chars(raw: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b: Vec<char> = raw.chars().collect();
        let mut i = 0;
        while i < b.len() {
            if b[i] == '$' {
                let mut j = i + 1;
                if j < b.len() && b[j] == '{' {
                    j += 1;
                }
                let start = j;
                while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                    j += 1;
                }
                if j > start {
                    let n: String = b[start..j].iter().collect();
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                i = j;
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn references_are_those_of_the_character_walk() {
        let parts = [
            "$",
            "${",
            "}",
            "A",
            "_b",
            "é",
            "1",
            "$$",
            " ",
            "-",
            "${X:-y}",
            "ü_ß",
            "\u{1F600}",
        ];
        let mut texts = vec![String::new()];
        // every sequence of up to four parts
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &texts {
                for p in parts {
                    next.push(format!("{t}{p}"));
                }
            }
            texts.extend(next);
            texts.sort();
            texts.dedup();
        }
        assert!(texts.len() > 20_000, "{}", texts.len());
        for t in &texts {
            assert_eq!(referenced_vars(t), by_chars(t), "{t:?}");
        }
        assert_eq!(referenced_vars("RUN echo ${A} $B_1 ${A}"), ["A", "B_1"]);
    }
}
