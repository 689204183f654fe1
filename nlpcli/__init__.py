"""nlpcli: five NLP tasks from the shell, served by one attention encoder-decoder."""

__version__ = "0.1.0"
