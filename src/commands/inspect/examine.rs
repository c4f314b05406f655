//! The examination of the last sample, one socket at a time: whether the target holds it,
//! who does, its options, its change since the first sample; only the sockets a rule can use
//! are kept unless the output lists them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::view::{During, ProcessTally, SocketView};
use super::{InspectArgs, gather, rules};
use crate::commands::Context;
use crate::sys::procfs::ProcessSockets;
use crate::sys::record::{SocketRecord, TcpState};

/// Examines the sockets of the last sample one at a time: whether the target holds it, who
/// does, its options (read and the duplicate closed at once), its change since the first
/// sample; TIME_WAIT only counted.
pub(super) struct Examiner<'a> {
    pub(super) port: Option<u16>,
    pub(super) wanted: Option<HashSet<u64>>,
    pub(super) holders: HashMap<u64, Vec<gather::Hold>>,
    pub(super) before: &'a HashMap<u64, gather::Before>,
    pub(super) walked: &'a [ProcessSockets],
    pub(super) reader: gather::OptionReader,
    /// Why a socket without a known holder has no options: the same for all of them.
    pub(super) unowned: Option<Arc<str>>,
    /// Keep every socket (JSON, `--sockets`), or only those a rule can use.
    pub(super) keep_all: bool,
    pub(super) knobs: &'a gather::Knobs,
    pub(super) sampled: bool,
    pub(super) sockets: Vec<SocketView>,
    pub(super) examined: u64,
    pub(super) per_process: HashMap<u32, ProcessTally>,
    pub(super) not_judged: rules::NotJudgedTally,
    pub(super) time_wait: u64,
    pub(super) tally: rules::PortTally,
}

impl<'a> Examiner<'a> {
    pub fn new(
        args: &InspectArgs,
        ctx: &Context,
        walked: &'a [ProcessSockets],
        knobs: &'a gather::Knobs,
        before: &'a HashMap<u64, gather::Before>,
    ) -> Self {
        let targeted = args.targets.names_processes();
        Self {
            port: args.targets.port,
            wanted: targeted.then(|| {
                walked
                    .iter()
                    .flat_map(|p| p.sockets.iter().map(|s| s.inode))
                    .collect()
            }),
            holders: gather::holders(walked),
            before,
            walked,
            reader: gather::OptionReader::default(),
            unowned: None,
            keep_all: ctx.every_row || args.sockets,
            knobs,
            sampled: !args.sample_for.is_zero(),
            sockets: Vec::new(),
            examined: 0,
            per_process: HashMap::new(),
            not_judged: rules::NotJudgedTally::default(),
            time_wait: 0,
            tally: rules::PortTally::new(knobs),
        }
    }

    pub fn visit(&mut self, record: &SocketRecord) {
        if record.state == TcpState::TimeWait {
            self.time_wait += 1;
            self.tally.add(record);
            if self.port.is_none() {
                return;
            }
        }
        if let Some(wanted) = &self.wanted
            && !wanted.contains(&record.inode)
        {
            return;
        }
        // Request sockets (SYN_RECV) are the listener's; they show in its queue.
        if matches!(record.state, TcpState::SynRecv | TcpState::NewSynRecv) {
            return;
        }
        let holds = self
            .holders
            .get(&record.inode)
            .filter(|_| record.inode != 0);
        let mut view = SocketView::new(record, holds.map(Vec::as_slice).unwrap_or_default());
        if let Some(hold) = holds.and_then(|h| h.first()) {
            match self.reader.read(hold.pid, hold.fd, record) {
                Ok(options) => view.options = options,
                Err(reason) => view.options_unknown_reason = Some(reason),
            }
        } else {
            let walked = self.walked;
            let reason = self
                .unowned
                .get_or_insert_with(|| unowned_reason(record, walked).into());
            view.options_unknown_reason = Some(Arc::clone(reason));
        }
        // From sock_diag: known whether or not the duplicate could be read.
        view.options.bind_address_no_port = record.flags.map(|f| f.bind_address_no_port);
        if let Some(before) = self.before.get(&record.inode) {
            view.during = Some(During::between(before, record));
        }
        self.examined += 1;
        if let Some(pid) = view.pid {
            self.per_process.entry(pid).or_default().add(&view);
        }
        self.not_judged.add(&view);
        if self.keep_all || rules::relevant(&view, self.knobs, self.sampled) {
            self.sockets.push(view);
        }
    }
}

/// Why a socket has no known holder, so its options are unknown.
fn unowned_reason(record: &crate::sys::record::SocketRecord, walked: &[ProcessSockets]) -> String {
    if record.inode == 0 {
        return "no process holds it: the kernel keeps it (TIME_WAIT)".to_owned();
    }
    let refused = walked.iter().filter(|p| p.refused).count();
    if refused > 0 {
        format!(
            "its holder was not found: /proc/PID/fd of {refused} process{} could not be read \
             (another user's; reading them needs root, or CAP_DAC_READ_SEARCH with \
             CAP_SYS_PTRACE)",
            if refused == 1 { "" } else { "es" }
        )
    } else {
        "no process holds it (closed, or held by a process that exited)".to_owned()
    }
}
