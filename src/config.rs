//! Sizing presets: the memory budget of a deployment, after MicroWebSrv2's.

/// A sizing preset: a starting point for the pool and request limits. `Normal` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Preset {
    /// A microcontroller: 16 slots of 1 KiB, 16 KiB bodies.
    Embedded,
    /// A small board: 128 slots of 1 KiB, 512 KiB bodies.
    Light,
    /// A typical host: 512 slots of 4 KiB, 2 MiB bodies.
    #[default]
    Normal,
    /// A large host: 2048 slots of 16 KiB, 8 MiB bodies.
    Large,
}

/// The figures a preset stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresetFigures {
    /// Listen backlog.
    pub(crate) conn_queue_capacity: u32,
    /// Number of buffer slots.
    pub(crate) buffer_slots_count: usize,
    /// Size of one buffer slot, in bytes.
    pub(crate) buffer_slot_size: usize,
    /// Whether the slots are allocated once at start.
    pub(crate) keep_alloc_buffer_slots: bool,
    /// Largest request body accepted, in bytes.
    pub(crate) max_request_content_length: u64,
}

impl Preset {
    /// Returns the figures of this preset (the table in DESIGN.md).
    #[must_use]
    pub(crate) const fn figures(self) -> PresetFigures {
        let (q, n, size, max) = match self {
            Preset::Embedded => (8, 16, 1024, 16 * 1024),
            Preset::Light => (64, 128, 1024, 512 * 1024),
            Preset::Normal => (256, 512, 4 * 1024, 2 * 1024 * 1024),
            Preset::Large => (512, 2048, 16 * 1024, 8 * 1024 * 1024),
        };
        PresetFigures {
            conn_queue_capacity: q,
            buffer_slots_count: n,
            buffer_slot_size: size,
            keep_alloc_buffer_slots: true,
            max_request_content_length: max,
        }
    }

    /// Parses a preset name as the command line spells it (`embedded`, `light`, `normal`, `large`).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Preset> {
        match name.to_ascii_lowercase().as_str() {
            "embedded" => Some(Preset::Embedded),
            "light" => Some(Preset::Light),
            "normal" => Some(Preset::Normal),
            "large" => Some(Preset::Large),
            _ => None,
        }
    }

    /// Returns the slot memory this preset reserves: count × size, in bytes.
    #[must_use]
    pub fn slot_budget(self) -> usize {
        let f = self.figures();
        f.buffer_slots_count * f.buffer_slot_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_is_the_default_and_matches_the_design_table() {
        let f = Preset::default().figures();
        assert_eq!(f.conn_queue_capacity, 256);
        assert_eq!(f.buffer_slots_count, 512);
        assert_eq!(f.buffer_slot_size, 4096);
        assert_eq!(f.max_request_content_length, 2 * 1024 * 1024);
        assert_eq!(Preset::Large.slot_budget(), 2048 * 16 * 1024);
        assert_eq!(Preset::from_name("Embedded"), Some(Preset::Embedded));
        assert_eq!(Preset::from_name("huge"), None);
    }
}
