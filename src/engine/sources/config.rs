//! The configuration's `builds:` source: each entry a declaration whose origin is its place in
//! the configuration file; an entry whose Dockerfile or context leaves the repository is refused
//! with an error on that file.

use super::{Board, Context, Declaration, Files, Progress, Source, diag};
use crate::engine::decl;
use crate::engine::report::Origin;

pub(super) struct Builds;

impl Source for Builds {
    fn resolve(&mut self, cx: &Context<'_>, _files: &Files, board: &mut Board) -> Progress {
        for (i, b) in cx.config.builds.iter().enumerate() {
            let context_raw = b.context.clone().unwrap_or_else(|| ".".into());
            let (Some(context), Some(dockerfile)) = (
                decl::inside("", &context_raw),
                decl::inside("", &b.dockerfile),
            ) else {
                board.diagnostics.push(diag(
                    cx.config_file,
                    None,
                    true,
                    format!(
                        "builds entry {}: a path is outside the repository; refused",
                        i + 1
                    ),
                ));
                continue;
            };
            let origin = Origin::Config {
                file: cx.config_file.to_string(),
                index: i,
            };
            board.declarations.push(Declaration::new(
                origin,
                dockerfile,
                context,
                None,
                b.args.clone(),
                b.target.clone(),
                Default::default(),
                vec![cx.config_file.to_string()],
            ));
        }
        Progress::Done
    }
}
