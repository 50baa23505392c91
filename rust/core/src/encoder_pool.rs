//! Encoders kept for reuse, so that encoding or decoding many sequences under one config costs
//! no table allocation per sequence (a reset is proportional to the entries it drops).

use std::sync::Mutex;

use crate::codebook::Codebook;
use crate::codec::{
    decode_ids_with, decode_lean_into, decode_with, encode_ids_with, encode_lean_into, encode_with,
};
use crate::config::CompressionConfig;
use crate::encoder::Encoder;
use crate::error::Result;
use crate::lru_codec::LruCodec;
use crate::parallel::map_rows_with;
use crate::token_id::TokenId;
use crate::windows::{check_window, encode_windows_with, Windows};

/// A whole-sequence call on a lean codec, returning the codebook.
type LeanRun<I, T> = fn(&mut LruCodec, &CompressionConfig, &[I], &mut Vec<T>) -> Result<Codebook>;

/// A thread-safe codec front for one config: whole-sequence and batched encode and decode
/// (batches on the crate's pool), each call borrowing a pooled encoder.
#[derive(Debug)]
pub struct EncoderPool {
    config: CompressionConfig,
    free: Mutex<Vec<Encoder>>,
}

/// An encoder on loan from an [`EncoderPool`]; it goes back when dropped.
struct Loan<'a> {
    pool: &'a EncoderPool,
    encoder: Option<Encoder>,
}

impl Loan<'_> {
    fn encoder(&mut self) -> &mut Encoder {
        self.encoder
            .get_or_insert_with(|| Encoder::pooled(&self.pool.config))
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if let Some(encoder) = self.encoder.take() {
            let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
            free.push(encoder);
        }
    }
}

impl EncoderPool {
    pub fn new(config: &CompressionConfig) -> Self {
        Self {
            config: config.clone(),
            free: Mutex::new(Vec::new()),
        }
    }

    pub fn config(&self) -> &CompressionConfig {
        &self.config
    }

    fn loan(&self) -> Loan<'_> {
        let encoder = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Loan {
            pool: self,
            encoder,
        }
    }

    /// Appends the hypertokenized `ids` to `out` (see [`crate::encode_into`]).
    pub fn encode_into<I: TokenId, T: From<u32>>(&self, ids: &[I], out: &mut Vec<T>) -> Result<()> {
        encode_ids_with(self.loan().encoder(), ids, out)
    }

    /// Appends the base ids of a valid id stream to `out` (see [`crate::decode_into`]).
    pub fn decode_into<I: TokenId, T: From<u32>>(&self, ids: &[I], out: &mut Vec<T>) -> Result<()> {
        decode_ids_with(self.loan().encoder(), ids, out)
    }

    /// [`crate::encode_into`] on a pooled encoder (no tables to allocate per call); the
    /// codebook comes as a [`Codebook::snapshot`] where the general encoder built it.
    pub fn encode_with_codebook_into<I: TokenId, T: From<u32>>(
        &self,
        ids: &[I],
        out: &mut Vec<T>,
    ) -> Result<Codebook> {
        self.with_codebook(ids, out, encode_lean_into, encode_with)
    }

    /// [`crate::decode_into`] on a pooled encoder, the codebook as
    /// [`Self::encode_with_codebook_into`] gives it.
    pub fn decode_with_codebook_into<I: TokenId, T: From<u32>>(
        &self,
        ids: &[I],
        out: &mut Vec<T>,
    ) -> Result<Codebook> {
        self.with_codebook(ids, out, decode_lean_into, decode_with)
    }

    /// `lean` on the pooled lean codec where one applies, else `general` on the pooled encoder.
    fn with_codebook<I: TokenId, T: From<u32>>(
        &self,
        ids: &[I],
        out: &mut Vec<T>,
        lean: LeanRun<I, T>,
        general: fn(&mut Encoder, &[I], &mut Vec<T>) -> Result<()>,
    ) -> Result<Codebook> {
        let mut loan = self.loan();
        let encoder = loan.encoder();
        if let Some(codec) = encoder.lean(ids.len()) {
            return lean(codec, &self.config, ids, out);
        }
        general(encoder, ids, out)?;
        Ok(encoder.codebook().snapshot())
    }

    /// Encodes every row, in parallel for large batches; errors name their row.
    pub fn batch_encode<I, S, T>(&self, rows: &[S]) -> Result<Vec<Vec<T>>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        T: From<u32> + Send,
    {
        self.batch(rows, encode_ids_with)
    }

    /// Decodes every row, in parallel for large batches; errors name their row.
    pub fn batch_decode<I, S, T>(&self, rows: &[S]) -> Result<Vec<Vec<T>>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        T: From<u32> + Send,
    {
        self.batch(rows, decode_ids_with)
    }

    /// Cuts every row (followed by `suffix`) into lossless windows of at most `window`
    /// hypertokens (see [`crate::encode_windows`]), in parallel for large batches.
    pub fn batch_encode_windows<I, S>(
        &self,
        rows: &[S],
        suffix: &[u32],
        window: usize,
    ) -> Result<Vec<Windows>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
    {
        check_window(window)?;
        let work = rows.iter().map(|row| row.as_ref().len()).sum();
        map_rows_with(
            rows,
            work,
            || self.loan(),
            |loan, row| {
                let mut out = Windows::default();
                encode_windows_with(loan.encoder(), row.as_ref(), suffix, window, &mut out)?;
                Ok(out)
            },
        )
    }

    /// `f` over every row with a pooled encoder and a cleared scratch id buffer, in parallel
    /// for large batches (`work` estimates the batch in ids).
    #[cfg(feature = "text")]
    pub(crate) fn map_with_encoder<S, R, F>(&self, rows: &[S], work: usize, f: F) -> Result<Vec<R>>
    where
        S: Sync,
        R: Send,
        F: Fn(&mut Encoder, &mut Vec<u32>, &S) -> Result<R> + Sync,
    {
        map_rows_with(
            rows,
            work,
            || (self.loan(), Vec::new()),
            |(loan, scratch), row| {
                scratch.clear();
                f(loan.encoder(), scratch, row)
            },
        )
    }

    fn batch<I, S, T>(
        &self,
        rows: &[S],
        code: fn(&mut Encoder, &[I], &mut Vec<T>) -> Result<()>,
    ) -> Result<Vec<Vec<T>>>
    where
        I: TokenId,
        S: AsRef<[I]> + Sync,
        T: From<u32> + Send,
    {
        let work = rows.iter().map(|row| row.as_ref().len()).sum();
        map_rows_with(
            rows,
            work,
            || self.loan(),
            |loan, row| {
                let mut out = Vec::new();
                code(loan.encoder(), row.as_ref(), &mut out)?;
                Ok(out)
            },
        )
    }
}
