//! TCP_INFO: being written (issue 3).
