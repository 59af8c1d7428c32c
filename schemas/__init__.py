"""The built-in column profiles, shipped inside the package as `uploader.schemas`."""
