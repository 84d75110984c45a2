//! Counts heap allocations made by `Router::resolve`: none for a static route or a route with
//! numeric arguments, one for a route with string arguments, none for a miss or a 405.

use http::Method;
use microweb::routing::{Resolution, Router};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

fn router() -> Router<u32> {
    let mut r = Router::new();
    let routes = [
        (Method::GET, "/"),
        (Method::GET, "/api/v1/status"),
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/users"),
        (Method::GET, "/api/v1/users/<int:id>"),
        (Method::GET, "/api/v1/users/<int:id>/posts/<int:post>"),
        (Method::GET, "/api/v1/users/<id>/profile/<property>"),
        (Method::GET, "/api/v1/prices/<float:p>"),
        (Method::GET, "/static/<path:file>"),
    ];
    for (i, (m, p)) in routes.into_iter().enumerate() {
        r.add(m, p, None, i as u32).expect("valid route");
    }
    r
}

#[test]
fn resolve_allocates_only_for_string_arguments() {
    let r = router();
    let cases: &[(Method, &str, usize)] = &[
        (Method::GET, "/", 0),
        (Method::GET, "/api/v1/status", 0),
        (Method::GET, "/api/v1/status/", 0),
        (Method::HEAD, "/api/v1/users", 0),
        (Method::GET, "/api/v1/users/42", 0),
        (Method::GET, "/api/v1/users/42/posts/7", 0),
        (Method::GET, "/api/v1/prices/1.25", 0),
        // `<name>` values that look like integers are stored inline too.
        (Method::GET, "/api/v1/users/42/profile/7", 0),
        (Method::GET, "/api/v1/users/bob/profile/email", 1),
        (Method::GET, "/static/css/site.css", 1),
        (Method::GET, "/nowhere/at/all", 0),
        (Method::DELETE, "/api/v1/users", 0),
    ];
    for (method, path, want) in cases {
        let (n, found) = allocations(|| match r.resolve(method, path) {
            Resolution::Found(m) => Some(*m.handler),
            _ => None,
        });
        assert_eq!(n, *want, "{method} {path} (found {found:?})");
    }
}
