//! Writing small trees for tests. A file spec is `(path, content)`; content `@755 …` sets the
//! mode, `@link:TARGET` makes a symlink, `@dir` makes an empty directory.

use std::path::Path;

pub fn write_tree(root: &Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(root).unwrap();
    for (p, content) in files {
        let path = root.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        if let Some(target) = content.strip_prefix("@link:") {
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(target, &path).unwrap();
            continue;
        }
        if content == "@dir" {
            std::fs::create_dir_all(&path).unwrap();
            continue;
        }
        if let Some(rest) = content.strip_prefix("@own1000 ") {
            std::fs::write(&path, rest).unwrap();
            std::os::unix::fs::chown(&path, Some(1000), Some(1000)).unwrap();
            continue;
        }
        let (mode, body) = match content.strip_prefix('@') {
            Some(rest)
                if rest.len() > 4
                    && rest.as_bytes()[3] == b' '
                    && rest[..3].chars().all(|c| c.is_ascii_digit()) =>
            {
                (u32::from_str_radix(&rest[..3], 8).unwrap(), &rest[4..])
            }
            _ => (0o644, content.as_str()),
        };
        std::fs::write(&path, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Head files: base files with `edits` applied (`None` removes the path).
pub fn apply_edits(
    base: &[(&str, String)],
    edits: &[(&str, Option<String>)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base
        .iter()
        .map(|(p, c)| (p.to_string(), c.clone()))
        .collect();
    for (p, e) in edits {
        out.retain(|(q, _)| q != p);
        if let Some(c) = e {
            out.push((p.to_string(), c.clone()));
        }
    }
    out
}
