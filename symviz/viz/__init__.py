"""Static plotting helpers and the 3D molecule viewer."""
