//! Sysctl knobs and the sysctl.d config files: being written (issue 4).
