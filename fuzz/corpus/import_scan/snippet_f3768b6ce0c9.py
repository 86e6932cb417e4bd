x = '''a\''' ''' 
import after_escaped_triple