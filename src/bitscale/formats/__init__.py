"""bitscale.formats"""
