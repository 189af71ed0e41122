"""The order of the gallery: the quickstart first, then the others by file
name (a class sphinx-gallery imports by name, so that Sphinx can cache it)."""


class QuickstartFirst:
    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (filename != "quickstart.py", filename)

    def __repr__(self):
        return f"QuickstartFirst({self.src_dir!r})"
