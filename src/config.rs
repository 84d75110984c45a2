//! Sizing presets: the memory budget of a deployment, after MicroWebSrv2's.

/// A sizing preset: a starting point for the pool and request limits. `Normal` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Preset {
    /// A microcontroller: 16 slots of 1 KiB, 16 KiB bodies, 64 KiB memory budget.
    Embedded,
    /// A small board: 128 slots of 1 KiB, 512 KiB bodies, 2 MiB memory budget.
    Light,
    /// A typical host: 512 slots of 4 KiB, 2 MiB bodies, 32 MiB memory budget.
    #[default]
    Normal,
    /// A large host: 2048 slots of 16 KiB, 8 MiB bodies, 256 MiB memory budget.
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
    /// Bytes the server may hold beyond its slots (bodies gathered in memory).
    pub(crate) memory_budget: usize,
}

impl Preset {
    /// Returns the figures of this preset (the table in DESIGN.md).
    #[must_use]
    pub(crate) const fn figures(self) -> PresetFigures {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        let (q, n, size, max, budget) = match self {
            Preset::Embedded => (8, 16, KIB, 16 * KIB as u64, 64 * KIB),
            Preset::Light => (64, 128, KIB, 512 * KIB as u64, 2 * MIB),
            Preset::Normal => (256, 512, 4 * KIB, 2 * MIB as u64, 32 * MIB),
            Preset::Large => (512, 2048, 16 * KIB, 8 * MIB as u64, 256 * MIB),
        };
        PresetFigures {
            conn_queue_capacity: q,
            buffer_slots_count: n,
            buffer_slot_size: size,
            keep_alloc_buffer_slots: true,
            max_request_content_length: max,
            memory_budget: budget,
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

    /// Returns the bytes a server on this preset may hold beyond its slots (see
    /// [`ServerConfig::memory_budget`](crate::ServerConfig::memory_budget)).
    #[must_use]
    pub fn memory_budget(self) -> usize {
        self.figures().memory_budget
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
