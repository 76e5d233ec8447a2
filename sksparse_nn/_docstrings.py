"""Docstring text that several public functions share, written once.

``@fill_doc(name=text, ...)`` replaces each line ``{name}`` of the decorated
function's docstring by ``text`` (whole numpydoc entries), so that entries such
as "estimator : ..." cannot drift apart between functions.
"""


def fill_doc(**fragments):
    """Return a decorator that fills ``{name}`` lines of a docstring."""
    def decorate(func):
        if func.__doc__ is None:  # python -OO strips docstrings
            return func
        for name, text in fragments.items():
            func.__doc__ = func.__doc__.replace("{" + name + "}\n", text)
        return func
    return decorate
