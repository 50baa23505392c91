//! The id sequences the codec examples replay: a file of little-endian `u32`s, the sequence
//! count, each sequence's length, then the sequences.

pub fn sequences(file: &str) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(file).expect("readable sequence file");
    let data: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let count = data[0] as usize;
    let mut at = 1 + count;
    data[1..=count]
        .iter()
        .map(|&len| {
            let seq = data[at..at + len as usize].to_vec();
            at += len as usize;
            seq
        })
        .collect()
}
