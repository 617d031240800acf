//! Shared support for crust end-to-end tests: building test programs, running crust, checking images with crit.
