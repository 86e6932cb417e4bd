s = '''
import inside_triple
'''
import after_triple