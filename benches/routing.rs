//! Route resolution and path building against a 200-route API table.
//!
//! Run with `cargo bench --bench routing -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::Method;
use microweb::routing::{Resolution, Router};

const RESOURCES: [&str; 20] = [
    "users",
    "posts",
    "comments",
    "orders",
    "products",
    "carts",
    "invoices",
    "payments",
    "shipments",
    "reviews",
    "tags",
    "categories",
    "teams",
    "projects",
    "tasks",
    "files",
    "events",
    "messages",
    "notifications",
    "settings",
];

/// Ten routes per resource, as a REST API would have them.
fn add_resource(r: &mut Router<usize>, prefix: &str, res: &str) {
    let routes = [
        (Method::GET, format!("{prefix}/{res}")),
        (Method::POST, format!("{prefix}/{res}")),
        (Method::GET, format!("{prefix}/{res}/search")),
        (Method::GET, format!("{prefix}/{res}/export.csv")),
        (Method::GET, format!("{prefix}/{res}/<int:id>")),
        (Method::PUT, format!("{prefix}/{res}/<int:id>")),
        (Method::DELETE, format!("{prefix}/{res}/<int:id>")),
        (Method::GET, format!("{prefix}/{res}/<int:id>/history")),
        (Method::GET, format!("{prefix}/{res}/<int:id>/<property>")),
        (Method::GET, format!("/admin{prefix}/{res}/<slug>/edit")),
    ];
    for (m, p) in routes {
        let name = format!("{m} {p}");
        let n = r.len();
        r.add(m, &p, Some(&name), n).expect("valid route");
    }
}

/// `versions × 200` routes: the resources under `/api/v1`, `/api/v2`, …
fn table(versions: usize) -> Router<usize> {
    let mut r = Router::new();
    for v in 1..=versions {
        for res in RESOURCES {
            add_resource(&mut r, &format!("/api/v{v}"), res);
        }
    }
    r
}

fn bench_resolve(c: &mut Criterion) {
    let r = table(1);
    assert_eq!(r.len(), 200);
    let cases = [
        ("static_hit", Method::GET, "/api/v1/settings/search"),
        ("param_hit_int", Method::GET, "/api/v1/orders/12345/history"),
        ("param_hit_str", Method::GET, "/api/v1/orders/12345/status"),
        ("miss", Method::GET, "/api/v1/unknown/12345"),
        ("method_not_allowed", Method::PATCH, "/api/v1/users/12345"),
    ];
    let mut group = c.benchmark_group("resolve_200_routes");
    for (label, method, path) in &cases {
        group.bench_function(*label, |b| {
            b.iter(|| match r.resolve(black_box(method), black_box(path)) {
                Resolution::Found(m) => *m.handler,
                _ => usize::MAX,
            })
        });
    }
    // For scale on a busy machine: one hash lookup of the whole path, what a flat table of
    // static routes would cost.
    let flat: std::collections::HashMap<String, usize> =
        [("/api/v1/settings/search".to_owned(), 1)]
            .into_iter()
            .collect();
    group.bench_function("baseline_hashmap_static", |b| {
        b.iter(|| flat.get(black_box("/api/v1/settings/search")).copied())
    });
    group.finish();

    let mut group = c.benchmark_group("resolve_scaling");
    for versions in [1, 10] {
        let r = table(versions);
        group.bench_with_input(BenchmarkId::new("param_hit", r.len()), &r, |b, r| {
            b.iter(
                || match r.resolve(&Method::GET, black_box("/api/v1/orders/12345/history")) {
                    Resolution::Found(m) => *m.handler,
                    _ => usize::MAX,
                },
            )
        });
    }
    group.finish();
}

fn bench_path_from_route(c: &mut Criterion) {
    let r = table(1);
    c.bench_function("path_from_route", |b| {
        b.iter(|| {
            r.path_from_route(
                black_box("GET /api/v1/orders/<int:id>/<property>"),
                &[
                    ("id", 12345.into()),
                    ("property", "shipping address".into()),
                ],
            )
        })
    });
}

criterion_group!(benches, bench_resolve, bench_path_from_route);
criterion_main!(benches);
