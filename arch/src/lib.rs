//! Per-architecture facts crust needs: register layouts, FPU/xsave areas,
//! signal frames, syscall numbers and syscall trampolines.
#![no_std]
