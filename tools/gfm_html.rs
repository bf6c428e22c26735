//! Renders a markdown body as GitHub shows it, for the README's screenshots
//! (`tools/screenshots.sh`): comrak with GitHub's extensions, a stylesheet close to GitHub's,
//! `suggestion` blocks drawn as GitHub's "Suggested change" box (the replaced lines from
//! `--original FILE`), and ```mermaid blocks handed to mermaid.js when `--mermaid FILE` gives it.
//!
//! `cargo run --example gfm-html -- IN.md [--title T] [--original FILE] [IN2.md …] OUT.html
//! [--mermaid JS]`: each IN.md a box (a comment as GitHub frames it), in order, on one page.

use std::fmt::Write;

const CSS: &str = r#"
body{margin:0;background:#fff;color:#1f2328;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif}
.box{margin:16px;border:1px solid #d1d9e0;border-radius:6px;max-width:900px}
.box>.head{background:#f6f8fa;border-bottom:1px solid #d1d9e0;padding:8px 16px;border-radius:6px 6px 0 0;color:#59636e}
.box>.head b{color:#1f2328}
.markdown-body{padding:16px;word-wrap:break-word}
.markdown-body>*:first-child{margin-top:0}
h1,h2,h3,h4{margin:24px 0 16px;font-weight:600;line-height:1.25} h3{font-size:1.25em} h4{font-size:1em}
p,ul,ol,table,pre,details{margin:0 0 16px} ul{padding-left:2em} li+li{margin-top:.25em}
a{color:#0969da;text-decoration:none}
code{font:85% ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,monospace;background:#818b981f;padding:.2em .4em;border-radius:6px;white-space:break-spaces}
pre{background:#f6f8fa;border-radius:6px;padding:16px;overflow:auto;font:85%/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre code{background:none;padding:0;font-size:100%;white-space:pre}
table{border-collapse:collapse;display:block;width:max-content;max-width:100%;overflow:auto}
td,th{border:1px solid #d1d9e0;padding:6px 13px} th{font-weight:600} tr:nth-child(2n){background:#f6f8fa}
sub{color:#59636e}
details summary{cursor:pointer} details[open] summary{margin-bottom:8px}
.sugg{border:1px solid #d1d9e0;border-radius:6px;margin:0 0 16px;overflow:hidden}
.sugg .t{background:#f6f8fa;border-bottom:1px solid #d1d9e0;padding:8px 12px;font-size:12px;color:#59636e;display:flex;justify-content:space-between}
.sugg .t b{color:#1f2328}
.sugg .btn{border:1px solid #d1d9e0;border-radius:6px;background:#f6f8fa;padding:0 8px;color:#1f2328}
.sugg pre{margin:0;border-radius:0;padding:0}
.sugg .l{display:block;padding:0 12px;white-space:pre}
.sugg .d{background:#ffebe9} .sugg .a{background:#dafbe1}
.mermaid{margin:0 0 16px}
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One box of the page: a markdown body, its header line, the lines its suggestion replaces.
struct Input {
    md: String,
    title: Option<String>,
    original: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `IN.md [--title T] [--original FILE]`, repeated; the last path is the page written
    let (mut inputs, mut mermaid) = (Vec::<Input>::new(), None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--title" => inputs.last_mut().unwrap().title = it.next(),
            "--original" => {
                inputs.last_mut().unwrap().original =
                    it.next().map(|p| std::fs::read_to_string(p).unwrap())
            }
            "--mermaid" => mermaid = it.next().map(|p| std::fs::read_to_string(p).unwrap()),
            _ => inputs.push(Input {
                md: a,
                title: None,
                original: None,
            }),
        }
    }
    let out = inputs.pop().unwrap().md;
    let boxes: String = inputs.iter().map(|i| boxed(i, mermaid.is_some())).collect();
    let script = mermaid
        .map(|m| format!("<script>{m}</script><script>document.querySelectorAll('details').forEach(d=>{{if(d.querySelector('.mermaid'))d.open=true}});mermaid.initialize({{startOnLoad:true,theme:'default'}});</script>"))
        .unwrap_or_default();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>{CSS}</style></head><body>{boxes}{script}</body></html>\n"
    );
    std::fs::write(out, page).unwrap();
}

/// The HTML of one box.
fn boxed(input: &Input, mermaid: bool) -> String {
    let md = std::fs::read_to_string(&input.md).unwrap();
    let original = input.original.as_deref();
    let mut o = comrak::Options::default();
    o.extension.table = true;
    o.extension.strikethrough = true;
    o.extension.autolink = true;
    o.extension.tasklist = true;
    o.extension.tagfilter = true;
    o.render.r#unsafe = true;
    let mut html = comrak::markdown_to_html(&md, &o);
    // GitHub's "Suggested change" box
    while let Some(at) = html.find("<pre><code class=\"language-suggestion\">") {
        let start = at + "<pre><code class=\"language-suggestion\">".len();
        let end = start + html[start..].find("</code></pre>").unwrap();
        let body = html[start..end].to_string();
        let mut b = String::from(
            "<div class=\"sugg\"><div class=\"t\"><b>Suggested change</b><span class=\"btn\">Commit suggestion</span></div><pre>",
        );
        for l in original.unwrap_or("").lines() {
            let _ = write!(b, "<span class=\"l d\">- {}</span>", esc(l));
        }
        for l in body.strip_suffix('\n').unwrap_or(&body).split('\n') {
            if !(l.is_empty() && body == "\n") {
                let _ = write!(b, "<span class=\"l a\">+ {l}</span>");
            }
        }
        b.push_str("</pre></div>");
        html.replace_range(at..end + "</code></pre>".len(), &b);
    }
    // Mermaid as GitHub draws it (with the library given), else left as code
    if mermaid {
        // only the mermaid blocks: each opening and the first closing after it
        const OPEN: &str = "<pre><code class=\"language-mermaid\">";
        const CLOSE: &str = "</code></pre>";
        let mut out = String::with_capacity(html.len());
        let mut rest = html.as_str();
        while let Some(at) = rest.find(OPEN) {
            out.push_str(&rest[..at]);
            out.push_str("<pre class=\"mermaid\">");
            rest = &rest[at + OPEN.len()..];
            let end = rest.find(CLOSE).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            out.push_str("</pre>");
            rest = rest.get(end + CLOSE.len()..).unwrap_or("");
        }
        out.push_str(rest);
        html = out;
    }
    let head = input
        .title
        .as_ref()
        .map(|t| format!("<div class=\"head\">{t}</div>"))
        .unwrap_or_default();
    format!("<div class=\"box\">{head}<div class=\"markdown-body\">{html}</div></div>")
}
