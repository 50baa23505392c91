//! Whole-sequence encode and decode.

use crate::codebook::Codebook;
use crate::config::CompressionConfig;
use crate::encoder::Encoder;
use crate::error::{Error, InvalidTokenReason, Result};
use crate::limits::{check, MAX_RESULT_IDS};
use crate::lru_codec::LruCodec;
use crate::token_id::{invalid, TokenId};

/// Greedy LZW: appends the hypertokenized `ids` to `out` and returns the codebook it built.
/// Every input must be a base id; on error `out` is left as it was.
pub fn encode_into<I: TokenId, T: From<u32>>(
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    if LruCodec::applies(config, ids.len()) {
        return encode_lean_into(&mut LruCodec::new(config), config, ids, out)
            .map(Codebook::into_indexed);
    }
    encode_general_into(config, ids, out)
}

/// [`encode_into`] on a lean codec for `config` (the general encoder reports invalid ids); the
/// lean codec's codebook comes as a snapshot.
pub(crate) fn encode_lean_into<I: TokenId, T: From<u32>>(
    lean: &mut LruCodec,
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    if lean.encode(ids, out).is_ok() {
        return Ok(lean.codebook());
    }
    encode_general_into(config, ids, out)
}

fn encode_general_into<I: TokenId, T: From<u32>>(
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    let mut encoder = Encoder::with_capacity(config, ids.len());
    encode_with(&mut encoder, ids, out)?;
    Ok(encoder.into_codebook())
}

/// [`encode_into`] on a reusable encoder, which is reset first and holds the codebook after.
pub(crate) fn encode_with<I: TokenId, T: From<u32>>(
    encoder: &mut Encoder,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<()> {
    let limit = encoder.config().initial_vocab_size();
    let start = out.len();
    encoder.reset();
    out.reserve(ids.len());
    for (position, &raw) in ids.iter().enumerate() {
        match raw.to_u32() {
            Some(id) if id < limit => encoder.push(id, |code| out.push(T::from(code))),
            _ => {
                out.truncate(start);
                encoder.reset();
                return Err(invalid(position, raw, limit));
            }
        }
    }
    encoder.finish(|code| out.push(T::from(code)));
    Ok(())
}

/// [`encode_with`] for callers that keep only the ids: the lean codec of an lru config where
/// it applies (the encoder then holds no useful codebook after).
pub(crate) fn encode_ids_with<I: TokenId, T: From<u32>>(
    encoder: &mut Encoder,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<()> {
    if let Some(lean) = encoder.lean(ids.len()) {
        if lean.encode(ids, out).is_ok() {
            return Ok(());
        }
    }
    encode_with(encoder, ids, out)
}

/// [`encode_into`] into a fresh vector.
pub fn encode<I: TokenId>(config: &CompressionConfig, ids: &[I]) -> Result<(Vec<u32>, Codebook)> {
    let mut out = Vec::with_capacity(ids.len());
    let codebook = encode_into(config, ids, &mut out)?;
    Ok((out, codebook))
}

/// Appends the base tokens of `id` to `out`, given the encoder state before `id`.
///
/// A base id or an existing hypertoken stands for itself; the hypertoken about to be created
/// (LZW's KwKwK case) stands for the pending match plus its own first token, and is valid only
/// when feeding that token would really create it. In a full evicting codebook that id is an
/// existing slot, about to be recycled: there the KwKwK meaning wins.
pub(crate) fn resolve(
    encoder: &Encoder,
    id: u32,
    out: &mut Vec<u32>,
) -> Result<(), InvalidTokenReason> {
    let codebook = encoder.codebook();
    let base = id < codebook.initial_vocab_size();
    // In a recycling codebook every hypertoken exists; only the slot about to be recycled
    // may mean something else (found by a short walk, without the KwKwK case's lookup).
    if base || (codebook.contains(id) && (!codebook.recycles() || encoder.next_id() != Some(id))) {
        codebook.extend_subtokens(id, out);
        return Ok(());
    }
    let limit = encoder.config().total_vocab_size();
    if id >= limit {
        return Err(InvalidTokenReason::OutOfRange {
            limit: u64::from(limit),
        });
    }
    match encoder.next_entry() {
        Some(next) if next.id == id => {
            codebook.extend_subtokens(next.code, out);
            out.push(next.first);
            Ok(())
        }
        _ if codebook.contains(id) => {
            codebook.extend_subtokens(id, out);
            Ok(())
        }
        _ => Err(InvalidTokenReason::NotYetCreated {
            next: u64::from(codebook.next_id()),
        }),
    }
}

/// [`resolve`] for an id of any integer type, as the error for `position` when invalid.
pub(crate) fn resolve_raw<I: TokenId>(
    encoder: &Encoder,
    position: usize,
    raw: I,
    out: &mut Vec<u32>,
) -> Result<()> {
    let limit = encoder.config().total_vocab_size();
    let id = raw.to_u32().ok_or_else(|| invalid(position, raw, limit))?;
    resolve(encoder, id, out).map_err(|reason| Error::InvalidToken {
        position,
        id: i64::from(id),
        reason,
    })
}

/// Expands any valid id stream (canonical or not) to base ids, appended to `out`, and returns
/// the codebook that greedy encoding of those base ids builds. On error `out` is unchanged.
///
/// A stream can expand to far more base ids than it has (`n` ids of a KwKwK chain stand for
/// about `n²/2`); more than [`MAX_RESULT_IDS`] is refused as it is reached.
pub fn decode_into<I: TokenId, T: From<u32>>(
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    if LruCodec::applies(config, ids.len()) {
        return decode_lean_into(&mut LruCodec::new(config), config, ids, out)
            .map(Codebook::into_indexed);
    }
    decode_general_into(config, ids, out)
}

/// [`decode_into`] on a lean codec for `config` (the general decoder reports invalid ids); the
/// lean codec's codebook comes as a snapshot.
pub(crate) fn decode_lean_into<I: TokenId, T: From<u32>>(
    lean: &mut LruCodec,
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    if lean.decode(ids, out).is_ok() {
        return Ok(lean.codebook());
    }
    decode_general_into(config, ids, out)
}

fn decode_general_into<I: TokenId, T: From<u32>>(
    config: &CompressionConfig,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<Codebook> {
    let expected_entries = ids.len().saturating_mul(config.max_subtokens());
    let mut encoder = Encoder::with_capacity(config, expected_entries);
    decode_with(&mut encoder, ids, out)?;
    Ok(encoder.into_codebook())
}

/// [`decode_into`] on a reusable encoder, which is reset first and holds the codebook after.
pub(crate) fn decode_with<I: TokenId, T: From<u32>>(
    encoder: &mut Encoder,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<()> {
    encoder.reset();
    let start = out.len();
    out.reserve(ids.len() * 2);
    let vocab = encoder.config().initial_vocab_size();
    let mut tokens = Vec::with_capacity(encoder.config().max_subtokens());
    for (position, &raw) in ids.iter().enumerate() {
        tokens.clear();
        // The common cases without resolving the id: a base id, and a hypertoken standing for
        // its own entry that `push_entry` feeds at once (see there for when it can not).
        if let Some(id) = raw.to_u32() {
            if id < vocab && out.len() - start < MAX_RESULT_IDS {
                encoder.push(id, |_| {});
                out.push(T::from(id));
                continue;
            }
            if encoder.codebook().contains(id) {
                encoder.codebook().extend_subtokens(id, &mut tokens);
                if out.len() - start + tokens.len() <= MAX_RESULT_IDS && encoder.push_entry(id) {
                    out.extend(tokens.iter().map(|&token| T::from(token)));
                    continue;
                }
                tokens.clear();
            }
        }
        let resolved = resolve_raw(encoder, position, raw, &mut tokens).and_then(|()| {
            let decoded = out.len() - start + tokens.len();
            check(
                || format!("the base ids of {} ids", ids.len()),
                decoded as u128,
                MAX_RESULT_IDS,
            )
        });
        if let Err(error) = resolved {
            out.truncate(start);
            return Err(error);
        }
        for &token in &tokens {
            encoder.push(token, |_| {});
            out.push(T::from(token));
        }
    }
    Ok(())
}

/// [`decode_with`] for callers that keep only the base ids, like [`encode_ids_with`].
pub(crate) fn decode_ids_with<I: TokenId, T: From<u32>>(
    encoder: &mut Encoder,
    ids: &[I],
    out: &mut Vec<T>,
) -> Result<()> {
    if let Some(lean) = encoder.lean(ids.len()) {
        if lean.decode(ids, out).is_ok() {
            return Ok(());
        }
    }
    decode_with(encoder, ids, out)
}

/// [`decode_into`] into a fresh vector.
pub fn decode<I: TokenId>(config: &CompressionConfig, ids: &[I]) -> Result<(Vec<u32>, Codebook)> {
    let mut out = Vec::with_capacity(ids.len() * 2);
    let codebook = decode_into(config, ids, &mut out)?;
    Ok((out, codebook))
}
