"""bitscale.report"""
