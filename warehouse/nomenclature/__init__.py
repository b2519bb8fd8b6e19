"""Nomenclature: reading nomenclature files and resolving codes and labels per exercice."""
