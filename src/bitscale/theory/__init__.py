"""bitscale.theory"""
