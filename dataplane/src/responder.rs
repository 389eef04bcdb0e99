//! Answering on the data core: a packet the data core can answer itself (a
//! query to the appliance's DNS) is turned into its answer in the buffer it
//! arrived in and sent in the same burst, instead of being handed to another
//! thread and back. The data path knows only this interface; what answers
//! (the DNS view, its cache) is the control side's, one responder per core.

use crate::port::Burst;

pub trait Responder<B>: Send {
    /// Answers `queries` over their own buffers, moving the frames to send
    /// to `answers` and leaving in `queries` those that get no answer (the
    /// responder counts why; the caller frees them); or returns false with
    /// `queries` untouched when they are not this responder's to answer now,
    /// and the caller hands them on as before (to the DNS thread, or the
    /// kernel). `answers` has room for every query.
    fn respond(&mut self, queries: &mut Burst<B>, answers: &mut Burst<B>) -> bool;
}
