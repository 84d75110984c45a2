//! Every example of the template language reference (`docs/templates.md`) renders as the reference
//! says it does.
//!
//! An example is a run of fenced blocks: optional `context` / `globals` blocks (JSON), optional
//! `template NAME` blocks (partials it includes), one `template` block (the page, rendered as
//! `page.html`), and then either an `output` block (the exact text the page renders to) or an
//! `error` block (the exact error, in its long form with the source line and the caret).

use microweb::mods::templates::Templates;
use serde_json::{Value, json};

/// One fenced block of the reference: its info string and its text.
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in doc.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    text: String::new(),
                    line: i + 1,
                });
            }
            (Some(block), Some("")) => out.push(block),
            (Some(mut block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed fence in docs/templates.md");
    out
}

/// The engine every example runs in: a `money` function, as the reference registers it.
fn engine() -> Templates {
    let templates = Templates::new("no-such-folder");
    templates.register_function("money", |args| match args.first().and_then(Value::as_f64) {
        Some(n) => Ok(json!(format!("{n:.2} €"))),
        None => Err("money needs a number".to_owned()),
    });
    templates
}

/// What running one example gives: the page, or the error's long form.
fn run(example: &[&Block]) -> Result<String, String> {
    let templates = engine();
    let mut context = json!({});
    let mut page = None;
    for block in example {
        let mut words = block.info.split_whitespace();
        match (words.next(), words.next()) {
            (Some("context"), _) => {
                context = serde_json::from_str(&block.text).expect("a context block is JSON");
            }
            (Some("globals"), _) => {
                let globals: serde_json::Map<String, Value> =
                    serde_json::from_str(&block.text).expect("a globals block is a JSON object");
                for (name, value) in globals {
                    templates.set_global_var(&name, value);
                }
            }
            (Some("template"), Some(name)) => {
                templates
                    .add_template(name, &block.text)
                    .map_err(|e| format!("{e:#}\n"))?;
            }
            (Some("template"), None) => page = Some(block.text.as_str()),
            _ => {}
        }
    }
    let page = page.expect("an example without a page");
    templates
        .add_template("page.html", page)
        .map_err(|e| format!("{e:#}\n"))?;
    templates
        .render_to_string("page.html", &context, &json!({}))
        .map_err(|e| format!("{e:#}\n"))
}

#[test]
fn every_example_of_the_reference_renders_as_it_says() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/templates.md")).unwrap();
    let all = blocks(&doc);
    let mut example: Vec<&Block> = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for block in &all {
        let kind = block.info.split_whitespace().next().unwrap_or("");
        match kind {
            "context" | "globals" | "template" => example.push(block),
            "output" | "error" => {
                assert!(
                    !example.is_empty(),
                    "line {}: an {kind} block with no template before it",
                    block.line
                );
                let got = run(&example);
                let (want_ok, got_text) = match &got {
                    Ok(page) => (kind == "output", page.as_str()),
                    Err(e) => (kind == "error", e.as_str()),
                };
                if !want_ok || got_text != block.text {
                    failures.push(format!(
                        "line {}: expected {kind}\n{}\ngot {got:?}\n",
                        block.line, block.text
                    ));
                }
                checked += 1;
                example.clear();
            }
            _ => {
                assert!(
                    example.is_empty(),
                    "line {}: a `{kind}` block inside an example",
                    block.line
                );
            }
        }
    }
    assert!(
        example.is_empty(),
        "an example at the end has no output block"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 40, "only {checked} examples found");
}
