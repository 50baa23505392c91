//! GPT-2's byte-level alphabet: every byte is written as one printable character, so that a
//! vocabulary of strings can hold arbitrary bytes. The encoder works on raw bytes and uses
//! this table only to read vocabulary and merges back into bytes.

/// The character each byte is written as (`bytes_to_unicode` in GPT-2's encoder).
pub(crate) fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut shifted = 0u32;
    for (byte, slot) in chars.iter_mut().enumerate() {
        let printable = matches!(byte, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            byte as u32
        } else {
            shifted += 1;
            255 + shifted
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    chars
}

/// Reads byte-level text back into bytes; `None` if a character is outside the alphabet.
#[derive(Debug)]
pub(crate) struct ByteDecoder {
    bytes: Vec<Option<u8>>,
}

impl ByteDecoder {
    pub(crate) fn new() -> Self {
        let mut bytes = vec![None; 324];
        for (byte, ch) in byte_chars().iter().enumerate() {
            bytes[*ch as usize] = Some(byte as u8);
        }
        Self { bytes }
    }

    pub(crate) fn decode(&self, text: &str) -> Option<Vec<u8>> {
        text.chars()
            .map(|ch| self.bytes.get(ch as usize).copied().flatten())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_a_bijection_matching_gpt2() {
        let chars = byte_chars();
        assert_eq!(chars[b'!' as usize], '!');
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[0xAD], 'Ń');
        let decoder = ByteDecoder::new();
        for byte in 0..=255u8 {
            let text = chars[byte as usize].to_string();
            assert_eq!(decoder.decode(&text), Some(vec![byte]));
        }
        assert_eq!(decoder.decode("aé€"), None);
    }
}
