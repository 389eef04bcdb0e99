//! Connection state as a middlebox sees it, and how long each state may sit idle.
//!
//! The appliance only watches flags go by; it never sees both ends' sequence
//! spaces whole, so the states are coarse on purpose (as in IPVS). What matters
//! is that a flow that has closed frees its entry (and PIP port) quickly, while an
//! idle established one is kept as long as the configured timeout says.

use crate::wire::tcp::flags;

/// Idle timeouts per state, in milliseconds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// SYN seen, handshake not finished.
    pub syn_ms: u32,
    /// Handshake done (Alteon's default real-server timeout is 10 minutes).
    pub established_ms: u32,
    /// One side has sent FIN.
    pub fin_ms: u32,
    /// Both sides sent FIN, or a RST passed: linger briefly for the last ACKs.
    pub closed_ms: u32,
    /// UDP has no handshake: one idle timeout.
    pub udp_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { syn_ms: 20_000, established_ms: 600_000, fin_ms: 30_000, closed_ms: 4_000, udp_ms: 60_000 }
    }
}

/// Flow state, stored as one byte in the flow entry.
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// UDP (or any protocol without a handshake).
    Datagram = 0,
    SynSent = 1,
    SynAck = 2,
    Established = 3,
    /// FIN from the client side only.
    FinClient = 4,
    /// FIN from the server side only.
    FinServer = 5,
    /// FIN both ways, or RST.
    Closed = 6,
}

impl State {
    #[inline]
    pub fn from_u8(v: u8) -> State {
        match v {
            1 => State::SynSent,
            2 => State::SynAck,
            3 => State::Established,
            4 => State::FinClient,
            5 => State::FinServer,
            6 => State::Closed,
            _ => State::Datagram,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Datagram => "datagram",
            State::SynSent => "syn_sent",
            State::SynAck => "syn_ack",
            State::Established => "established",
            State::FinClient => "fin_client",
            State::FinServer => "fin_server",
            State::Closed => "closed",
        }
    }

    #[inline]
    pub fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            State::Datagram => t.udp_ms,
            State::SynSent | State::SynAck => t.syn_ms,
            State::Established => t.established_ms,
            State::FinClient | State::FinServer => t.fin_ms,
            State::Closed => t.closed_ms,
        }
    }

    /// The state after a TCP segment with `tcp_flags`; `from_client` is its direction.
    #[inline]
    pub fn next_tcp(self, tcp_flags: u8, from_client: bool) -> State {
        if tcp_flags & flags::RST != 0 {
            return State::Closed;
        }
        let syn = tcp_flags & flags::SYN != 0;
        let ack = tcp_flags & flags::ACK != 0;
        let fin = tcp_flags & flags::FIN != 0;
        match (self, from_client) {
            // A client reusing the tuple after close starts over on the same path.
            (State::Closed, true) if syn && !ack => State::SynSent,
            (State::Closed, _) => State::Closed,
            (State::SynSent, false) if syn && ack => State::SynAck,
            (State::SynAck, true) if ack && !syn => {
                if fin {
                    State::FinClient
                } else {
                    State::Established
                }
            }
            (State::Established, true) if fin => State::FinClient,
            (State::Established, false) if fin => State::FinServer,
            (State::FinClient, false) if fin => State::Closed,
            (State::FinServer, true) if fin => State::Closed,
            (s, _) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flags::{ACK, FIN, RST, SYN};

    #[test]
    fn handshake_then_orderly_close() {
        let mut s = State::SynSent;
        for (f, from_client, want) in [
            (SYN | ACK, false, State::SynAck),
            (ACK, true, State::Established),
            (ACK, false, State::Established),
            (FIN | ACK, true, State::FinClient),
            (ACK, false, State::FinClient),
            (FIN | ACK, false, State::Closed),
            (ACK, true, State::Closed),
        ] {
            s = s.next_tcp(f, from_client);
            assert_eq!(s, want, "after flags {f:#x} from_client={from_client}");
        }
    }

    #[test]
    fn server_closes_first() {
        let s = State::Established.next_tcp(FIN | ACK, false);
        assert_eq!(s, State::FinServer);
        assert_eq!(s.next_tcp(FIN | ACK, true), State::Closed);
    }

    #[test]
    fn reset_closes_from_any_state() {
        for s in [State::SynSent, State::SynAck, State::Established, State::FinClient] {
            assert_eq!(s.next_tcp(RST, false), State::Closed);
            assert_eq!(s.next_tcp(RST | ACK, true), State::Closed);
        }
    }

    #[test]
    fn a_syn_ack_from_the_client_side_does_not_advance() {
        assert_eq!(State::SynSent.next_tcp(SYN | ACK, true), State::SynSent);
    }

    #[test]
    fn closed_state_has_the_shortest_tcp_timeout() {
        let t = Timeouts::default();
        assert!(State::Closed.timeout(&t) < State::SynSent.timeout(&t));
        assert!(State::Established.timeout(&t) > State::FinClient.timeout(&t));
    }
}
