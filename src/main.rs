//! The microweb demo server.

fn main() {
    println!("microweb: the server is not wired yet");
}
