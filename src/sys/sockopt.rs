//! Socket options set and read back: being written (issue 5).
