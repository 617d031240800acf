//! CRIU image files: magics, protobuf entries, pages.
