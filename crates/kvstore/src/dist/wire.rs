//! The messages between workers and servers: a small fixed header, the key, the shape, then the
//! payload (array bytes, a command body or an error message), all little-endian.

use mxrs_ndarray_core::{DType, Error, Result};

use crate::store::Key;

/// MPI tag of requests (worker to server).
pub(crate) const TAG_REQUEST: i32 = 1;
/// MPI tag of replies (server to worker).
pub(crate) const TAG_REPLY: i32 = 2;

/// What a message asks or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Initialise a key (every worker sends it; rank 0's carries the value).
    Init = 1,
    /// Push a value (not acknowledged unless it fails).
    Push = 2,
    /// Pull the stored value.
    Pull = 3,
    /// A server command (`cmd`, body).
    Command = 4,
    /// Enter the barrier.
    Barrier = 5,
    /// The worker is finished.
    Finalize = 6,
    /// Reply: done.
    Ack = 16,
    /// Reply: a value.
    Data = 17,
    /// Reply: failed, the payload is the message.
    Fail = 18,
}

impl Op {
    fn from_u8(b: u8) -> Result<Op> {
        Ok(match b {
            1 => Op::Init,
            2 => Op::Push,
            3 => Op::Pull,
            4 => Op::Command,
            5 => Op::Barrier,
            6 => Op::Finalize,
            16 => Op::Ack,
            17 => Op::Data,
            18 => Op::Fail,
            _ => return Err(Error::msg(format!("kvstore: corrupt message (op {b})"))),
        })
    }
}

/// One message.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) op: Op,
    /// Request id, echoed by the reply.
    pub(crate) id: u64,
    /// Bit 0: sync mode (push); bit 1: the message carries a value (init).
    pub(crate) flags: u8,
    /// The command id (Command), or the part of a split key.
    pub(crate) arg: i32,
    pub(crate) key: Option<Key>,
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) body: Vec<u8>,
}

/// Flag: the store is `dist_sync`.
pub(crate) const FLAG_SYNC: u8 = 1;
/// Flag: the message carries the value.
pub(crate) const FLAG_VALUE: u8 = 2;

impl Msg {
    /// A message without key or payload.
    pub(crate) fn bare(op: Op, id: u64) -> Msg {
        Msg { op, id, flags: 0, arg: 0, key: None, dtype: DType::F32, shape: Vec::new(), body: Vec::new() }
    }

    /// A failure reply to request `id`.
    pub(crate) fn fail(id: u64, message: &str) -> Msg {
        Msg { body: message.as_bytes().to_vec(), ..Msg::bare(Op::Fail, id) }
    }

    /// The payload as text (a failure's message).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Serialise.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.encode_with(&self.body)
    }

    /// Serialise with `body` as the payload (instead of `self.body`, saving a copy of a large
    /// value).
    pub(crate) fn encode_with(&self, body: &[u8]) -> Vec<u8> {
        let key_len = match &self.key {
            Some(Key::Str(s)) => s.len(),
            _ => 8,
        };
        let mut b = Vec::with_capacity(32 + key_len + 8 * self.shape.len() + body.len());
        b.push(self.op as u8);
        b.push(self.flags);
        b.push(self.dtype.flag() as u8);
        b.push(match &self.key {
            None => 0,
            Some(Key::Int(_)) => 1,
            Some(Key::Str(_)) => 2,
        });
        b.extend_from_slice(&self.arg.to_le_bytes());
        b.extend_from_slice(&self.id.to_le_bytes());
        match &self.key {
            None => {}
            Some(Key::Int(i)) => b.extend_from_slice(&i.to_le_bytes()),
            Some(Key::Str(s)) => {
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            }
        }
        b.extend_from_slice(&(self.shape.len() as u32).to_le_bytes());
        for &d in &self.shape {
            b.extend_from_slice(&(d as u64).to_le_bytes());
        }
        b.extend_from_slice(body);
        b
    }

    /// Parse a message.
    pub(crate) fn decode(mut buf: Vec<u8>) -> Result<Msg> {
        let mut r = Reader { buf: &buf, at: 0 };
        let head = r.take(4)?.to_vec();
        let arg = i32::from_le_bytes(r.take(4)?.try_into().unwrap_or_default());
        let id = r.u64()?;
        let key = match head[3] {
            0 => None,
            1 => Some(Key::Int(r.u64()? as i64)),
            2 => {
                let n = r.u32()? as usize;
                Some(Key::Str(String::from_utf8_lossy(r.take(n)?).into_owned()))
            }
            k => return Err(Error::msg(format!("kvstore: corrupt message (key kind {k})"))),
        };
        let nd = r.u32()? as usize;
        let mut shape = Vec::with_capacity(nd.min(64));
        for _ in 0..nd {
            shape.push(r.u64()? as usize);
        }
        let at = r.at;
        // In place: the header is small, the body may be large.
        buf.drain(..at);
        let body = buf;
        Ok(Msg {
            op: Op::from_u8(head[0])?,
            id,
            flags: head[1],
            arg,
            key,
            dtype: DType::from_flag(head[2] as i32).map_err(Error::from)?,
            shape,
            body,
        })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| Error::msg("kvstore: truncated message"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for key in [None, Some(Key::Int(-7)), Some(Key::Str("fc1_weight".into()))] {
            let m = Msg {
                op: Op::Push,
                id: 42,
                flags: FLAG_SYNC,
                arg: 3,
                key: key.clone(),
                dtype: DType::F16,
                shape: vec![2, 3],
                body: vec![1, 2, 3],
            };
            let d = Msg::decode(m.encode()).unwrap();
            assert_eq!((d.op, d.id, d.flags, d.arg, d.key, d.dtype), (Op::Push, 42, FLAG_SYNC, 3, key, DType::F16));
            assert_eq!((d.shape, d.body), (vec![2, 3], vec![1, 2, 3]));
        }
        assert!(Msg::decode(vec![2, 0, 0, 1]).is_err());
        assert!(Msg::decode(vec![99; 40]).is_err());
    }
}
