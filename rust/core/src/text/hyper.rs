//! Text to hypertoken ids: each text's base ids go straight into a pooled LZW encoder.

use super::TextTokenizer;
use crate::encoder_pool::EncoderPool;
use crate::error::{Error, Result};
use crate::windows::Windows;

impl EncoderPool {
    fn check_tokenizer(&self, tokenizer: &TextTokenizer) -> Result<()> {
        let size = tokenizer.vocab_size();
        if size > self.config().initial_vocab_size() {
            return Err(Error::argument(
                "tokenizer",
                format!(
                    "it has {size} ids but initial_vocab_size is {}: base ids would collide \
                     with hypertokens",
                    self.config().initial_vocab_size()
                ),
            ));
        }
        Ok(())
    }

    /// The hypertoken ids of every text (tokenized by `tokenizer`, then greedy LZW), in
    /// parallel on the crate's pool for large batches.
    pub fn batch_encode_texts<S: AsRef<str> + Sync>(
        &self,
        tokenizer: &TextTokenizer,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>> {
        self.check_tokenizer(tokenizer)?;
        let work = texts.iter().map(|text| text.as_ref().len() / 4).sum();
        self.map_with_encoder(texts, work, |encoder, base, text| {
            tokenizer.encode_into(text.as_ref(), add_special_tokens, base);
            let mut out = Vec::with_capacity(base.len());
            crate::codec::encode_ids_with(encoder, base.as_slice(), &mut out)?;
            Ok(out)
        })
    }

    /// Every text's base ids (no special tokens), followed by `suffix`, cut into lossless
    /// windows of at most `window` hypertokens (see [`crate::encode_windows`]).
    pub fn batch_encode_text_windows<S: AsRef<str> + Sync>(
        &self,
        tokenizer: &TextTokenizer,
        texts: &[S],
        suffix: &[u32],
        window: usize,
    ) -> Result<Vec<Windows>> {
        self.check_tokenizer(tokenizer)?;
        crate::windows::check_window(window)?;
        let work = texts.iter().map(|text| text.as_ref().len() / 4).sum();
        self.map_with_encoder(texts, work, |encoder, base, text| {
            tokenizer.encode_into(text.as_ref(), false, base);
            let mut out = Windows::default();
            if !base.is_empty() {
                crate::windows::encode_windows_with(
                    encoder,
                    base.as_slice(),
                    suffix,
                    window,
                    &mut out,
                )?;
            }
            Ok(out)
        })
    }
}
