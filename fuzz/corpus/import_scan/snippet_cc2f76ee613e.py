# import commented
import real