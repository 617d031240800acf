//! compel: seize a live task, run syscalls in it, load a parasite, cure it.
