//! Counts heap allocations made by `Router::resolve`: none for a static route or a route with
//! numeric arguments, one for a route with string arguments, none for a miss or a 405.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use http::Method;
use microweb::routing::{Resolution, Router};

/// Counts allocations made on the current thread, so other test threads do not interfere.
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// A counting global allocator is the only way to observe allocations; it is test-only code.
// SAFETY: forwards every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCS.with(Cell::get);
    let out = f();
    (ALLOCS.with(Cell::get) - before, out)
}

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
