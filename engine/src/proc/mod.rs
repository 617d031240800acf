//! Reading a task from /proc.
