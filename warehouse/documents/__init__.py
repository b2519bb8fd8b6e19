"""What the reports say, against what the data says (issue 9): documents, declarations, rapprochements."""
