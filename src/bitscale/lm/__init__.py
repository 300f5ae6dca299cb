"""bitscale.lm"""
