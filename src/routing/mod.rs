//! Named routes with typed arguments, the route resolver and the path builder.
