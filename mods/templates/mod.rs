//! The templates module: the `<< >>` template language, parsed with nom and rendered into responses.
