"""Research helpers on top of the engine: run comparison and the study of the paper's open questions."""
