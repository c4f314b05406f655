//! The lab child's entry: `sockdoc __lab REQUEST` (see `sys::sandbox`), where REQUEST is
//! `{"lesson": NAME, "request": …}`. Each lesson that experiments in a throwaway namespace
//! has its arm here; the child prints the lesson's JSON answer, or its error and exit 3.

use std::process::ExitCode;

use serde::Serialize;

use crate::exit::Exit;

/// The REQUEST argument for `lesson`'s child.
pub fn request(lesson: &str, request: &impl Serialize) -> String {
    serde_json::json!({ "lesson": lesson, "request": request }).to_string()
}

/// Runs in the child: dispatches to the lesson, prints its answer.
pub fn child(argument: &str) -> ExitCode {
    let answer = serde_json::from_str::<serde_json::Value>(argument)
        .map_err(|e| format!("a malformed lab request: {e}"))
        .and_then(|mut value| {
            let request = value["request"].take();
            match value["lesson"].as_str() {
                Some("prove") => super::prove::child(request),
                Some("ports") => super::ports::child(request),
                Some("keepalive") => super::keepalive::child(request),
                other => Err(format!("no lab lesson {other:?}")),
            }
        });
    match answer {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("{why}");
            ExitCode::from(Exit::CannotRun.code())
        }
    }
}
