//! Template engine bench: the same page (a 100-row table with conditionals and escaping) rendered
//! by microweb and by minijinja, and the parse time of each.
//!
//! Run: `cargo bench --bench templates -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use microweb::mods::templates::{PageData, Template, Templates};
use serde_json::{Value, json};

const MICROWEB: &str = r#"<table>
<< for row in rows >>
<tr class="<< if loop.index % 2 == 0 >>even<< else >>odd<< end >>">
<td><< row.id >></td><td><< row.name >></td><td><< row.email >></td>
<td><< if row.active >>active<< elif row.score > 50 >>pending<< else >>inactive<< end >></td>
<td><< row.score >></td><td><< row.tags | join(", ") >></td>
</tr>
<< end >>
</table>
<p><< title >>: << len(rows) >> rows</p>
"#;

const MINIJINJA: &str = r#"<table>
{% for row in rows %}
<tr class="{% if loop.index % 2 == 0 %}even{% else %}odd{% endif %}">
<td>{{ row.id }}</td><td>{{ row.name }}</td><td>{{ row.email }}</td>
<td>{% if row.active %}active{% elif row.score > 50 %}pending{% else %}inactive{% endif %}</td>
<td>{{ row.score }}</td><td>{{ row.tags | join(", ") }}</td>
</tr>
{% endfor %}
</table>
<p>{{ title }}: {{ rows | length }} rows</p>
"#;

/// 100 rows; some names need escaping (no `'` or `/`, which the two engines spell differently).
fn context() -> Value {
    let rows: Vec<Value> = (0..100)
        .map(|i| {
            json!({
                "id": i,
                "name": if i % 3 == 0 { format!("Smith & <Sons> #{i}") } else { format!("User {i}") },
                "email": format!("user{i}@example.com"),
                "active": i % 4 == 0,
                "score": (i * 37) % 100,
                "tags": ["a", "b\"quoted\""],
            })
        })
        .collect();
    json!({"title": "Users & \"friends\"", "rows": rows})
}

/// Converts the context once, outside the timed loop, so minijinja renders from its own values.
fn to_minijinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => minijinja::Value::from(i),
            None => minijinja::Value::from(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(a) => minijinja::Value::from(a.iter().map(to_minijinja).collect::<Vec<_>>()),
        Value::Object(m) => {
            minijinja::Value::from_pairs(m.iter().map(|(k, v)| (k.as_str(), to_minijinja(v))))
        }
    }
}

fn bench(c: &mut Criterion) {
    let ctx = context();
    let request = json!({});

    let engine = Templates::new("templates");
    let page: Arc<Template> = engine
        .add_template("bench.html", MICROWEB)
        .expect("the bench page renders");

    let mut env = minijinja::Environment::new();
    env.add_template("bench.html", MINIJINJA)
        .expect("the bench page renders");
    let mj = env
        .get_template("bench.html")
        .expect("the bench page renders");
    let mj_ctx = to_minijinja(&ctx);

    let render_microweb = || {
        let mut out = Vec::new();
        let data = PageData::new(&ctx).with_request(&request);
        let _ = engine
            .render_template(&page, data, &mut out)
            .expect("the bench page renders");
        out
    };
    let ours = String::from_utf8(render_microweb()).expect("the bench page renders");
    let theirs = mj.render(mj_ctx.clone()).expect("the bench page renders");
    // minijinja drops the template's final newline; everything else must be the same page.
    assert!(
        ours.trim_end() == theirs.trim_end(),
        "both engines must produce the same page"
    );

    let mut group = c.benchmark_group("render_100_rows");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("microweb", |b| b.iter(|| black_box(render_microweb())));
    group.bench_function("minijinja", |b| {
        b.iter(|| black_box(mj.render(mj_ctx.clone()).expect("the bench page renders")))
    });
    group.finish();

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(MICROWEB.len() as u64));
    group.bench_function("microweb", |b| {
        b.iter(|| {
            black_box(
                Template::parse("bench.html", black_box(MICROWEB)).expect("the bench page renders"),
            )
        })
    });
    group.bench_function("minijinja", |b| {
        b.iter(|| {
            let mut env = minijinja::Environment::new();
            env.add_template("bench.html", black_box(MINIJINJA))
                .expect("the bench page renders");
            black_box(env)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
