//! The `crust` command.

fn main() {}
