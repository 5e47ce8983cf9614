"""Image cleaning building blocks: per-file decode/repair (Pillow) and perceptual hashes (numpy)."""
