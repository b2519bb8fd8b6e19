"""What the reports say: the vocabulary of prose figures and the models of the document tables."""
