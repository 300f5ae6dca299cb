"""bitscale.laws"""
